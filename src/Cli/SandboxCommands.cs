using System.Diagnostics;
using System.Text.Json;
using AutoReview.Bundle;
using AutoReview.Egress;
using AutoReview.Sandbox;
using AutoReview.Sandbox.Interop;
using AutoReview.Sandbox.Probe;

namespace AutoReview.Cli;

internal static class SandboxCommands
{
    public static int Run(SandboxRunArguments args)
    {
        if (args.Help)
        {
            Console.WriteLine(SandboxRunArguments.Usage);
            return ExitCodes.Ok;
        }
        if (args.Command.Count == 0)
            throw new UsageException("sandbox run: no command given (put it after --)");
        args.Validate();
        if (args.Bare)
            return RunBare(args);
        if (args.RootFs is not null && args.CaFiles.Count > 0)
            throw new UsageException("sandbox run: --ca-file works with the embedded bundle, not with --rootfs");
        try
        {
            using BundleLease? lease = args.RootFs is null ? EmbeddedBundle.Acquire() : null;
            using TrustFile? trust = lease is not null && args.CaFiles.Count > 0
                ? TrustStore.Combine(Path.Join(lease.RootFs, TrustStore.BundlePath), args.CaFiles)
                : null;
            SandboxSpec spec = lease is null ? CustomRootSpec(args) : BundleSpec(args, lease, trust?.Path);
            return args.Network == NetworkChoice.Proxy
                ? new EgressProxySession(ParsePolicy(args.AllowHosts), verbose: true).Run(spec).ExitCode
                : Launcher.Run(spec).ExitCode;
        }
        catch (SandboxSetupException e)
        {
            Console.Error.WriteLine($"auto-review: {e.Message}");
            return e.Step != SetupStep.Exec ? ExitCodes.SandboxFailed
                : e.Errno == Errno.ENOENT ? ExitCodes.NotFound
                : ExitCodes.CannotExecute;
        }
    }

    public static EgressPolicy ParsePolicy(IEnumerable<string> allowHosts, IEnumerable<AllowEntry>? implied = null)
    {
        try
        {
            return EgressPolicy.Parse(allowHosts).With(implied ?? []);
        }
        catch (EgressPolicyException e)
        {
            throw new UsageException(e.Message);
        }
    }

    private static SandboxSpec CustomRootSpec(SandboxRunArguments args) => new()
    {
        RootFs = CanonicalRoot(args.RootFs!),
        Command = args.Command,
        Mounts = args.Mounts,
        Environment = args.Network == NetworkChoice.Proxy ? EgressProxySession.WithProxyEnvironment(args.Environment) : args.Environment,
        WorkingDirectory = args.WorkingDirectory ?? "/",
        Hostname = args.Hostname,
        Network = args.Network.ToLauncherMode(),
        Uid = args.Uid,
        Gid = args.Gid,
    };

    private static SandboxSpec BundleSpec(SandboxRunArguments args, BundleLease lease, string? trustFile) =>
        EmbeddedBundle.Spec(lease, args.Command, args.Network, trustFile, args.Mounts, args.Environment) with
        {
            WorkingDirectory = args.WorkingDirectory ?? lease.Manifest.Spec.Config.Cwd,
            Hostname = args.Hostname,
            Uid = args.Uid,
            Gid = args.Gid,
        };

    private static string CanonicalRoot(string root)
    {
        string full = Path.GetFullPath(root).TrimEnd('/');
        var info = new DirectoryInfo(full);
        return info.LinkTarget is null ? full : info.ResolveLinkTarget(returnFinalTarget: true)?.FullName.TrimEnd('/') ?? full;
    }

    private static int RunBare(SandboxRunArguments args)
    {
        Console.Error.WriteLine("auto-review: WARNING: --bare: running without any isolation; the command can read and change everything this user can.");
        var start = new ProcessStartInfo(args.Command[0]) { WorkingDirectory = args.WorkingDirectory ?? Environment.CurrentDirectory, UseShellExecute = false };
        foreach (string arg in args.Command.Skip(1)) start.ArgumentList.Add(arg);
        start.Environment.Clear();
        foreach ((string key, string value) in args.Environment) start.Environment[key] = value;
        try
        {
            using Process process = Process.Start(start)!;
            process.WaitForExit();
            return process.ExitCode;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            Console.Error.WriteLine($"auto-review: cannot run {args.Command[0]}: {e.Message}");
            return ExitCodes.NotFound;
        }
    }

    public static int Probe(ProbeOptions options)
    {
        IReadOnlyList<ProbeCheck> checks = EscapeProbe.Run(new ProbeExpectations
        {
            ReadOnlyPaths = options.ReadOnlyPaths.ToList(),
            WritablePaths = options.WritablePaths.Any() ? options.WritablePaths.ToList() : ["/tmp"],
            Hostname = options.Hostname,
            HostPid = options.HostPid,
            LoopbackPort = options.Port,
            ExpectHostNetwork = options.HostNetwork,
            LeakedPaths = options.LeakedPaths.ToList(),
            FetchUrl = options.FetchUrl,
        });
        if (options.Json)
        {
            using var json = new Utf8JsonWriter(Console.OpenStandardOutput(), new JsonWriterOptions { Indented = true });
            json.WriteStartObject();
            json.WriteBoolean("ok", checks.All(c => c.Ok));
            json.WriteStartArray("checks");
            foreach (ProbeCheck check in checks)
            {
                json.WriteStartObject();
                json.WriteString("name", check.Name);
                json.WriteBoolean("ok", check.Ok);
                json.WriteString("expected", check.Expected);
                json.WriteString("observed", check.Observed);
                json.WriteEndObject();
            }
            json.WriteEndArray();
            json.WriteEndObject();
        }
        else
        {
            foreach (ProbeCheck check in checks)
                Console.WriteLine($"{(check.Ok ? "ok  " : "FAIL")} {check.Name}: expected {check.Expected}, observed {check.Observed}");
        }
        return checks.All(c => c.Ok) ? ExitCodes.Ok : ExitCodes.Findings;
    }
}
