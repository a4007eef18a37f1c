using System.Diagnostics;
using System.Text.Json;
using AutoReview.Bundle;
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
        if (args.Bare)
            return RunBare(args);
        if (args.RootFs is not null && args.CaFiles.Count > 0)
            throw new UsageException("sandbox run: --ca-file works with the embedded bundle, not with --rootfs");
        string? trustFile = null;
        try
        {
            using BundleLease? lease = args.RootFs is null ? EmbeddedBundle.Acquire() : null;
            if (lease is not null && args.CaFiles.Count > 0)
                trustFile = TrustStore.Combine(lease, args.CaFiles);
            return Launcher.Run(lease is null ? CustomRootSpec(args) : BundleSpec(args, lease, trustFile)).ExitCode;
        }
        catch (SandboxSetupException e)
        {
            Console.Error.WriteLine($"auto-review: {e.Message}");
            return e.Step != SetupStep.Exec ? ExitCodes.SandboxFailed
                : e.Errno == Errno.ENOENT ? ExitCodes.NotFound
                : ExitCodes.CannotExecute;
        }
        finally
        {
            if (trustFile is not null) File.Delete(trustFile);
        }
    }

    private static SandboxSpec CustomRootSpec(SandboxRunArguments args) => new()
    {
        RootFs = CanonicalRoot(args.RootFs!),
        Command = args.Command,
        Mounts = args.Mounts,
        Environment = args.Environment,
        WorkingDirectory = args.WorkingDirectory ?? "/",
        Hostname = args.Hostname,
        Network = args.Network,
        Uid = args.Uid,
        Gid = args.Gid,
    };

    /// <summary>
    /// The embedded bundle as its config.json describes it: this executable at /usr/bin/auto-review, the
    /// writable tmpfs mounts, the bundle's environment (overridden by --setenv), and with the host's
    /// network, the host's resolver configuration over the placeholder.
    /// </summary>
    private static SandboxSpec BundleSpec(SandboxRunArguments args, BundleLease lease, string? trustFile)
    {
        SpecConfig config = lease.Manifest.Spec.Config;
        var mounts = new List<MountSpec> { new(MountKind.ReadOnlyBind, "/usr/bin/auto-review", EmbeddedBundle.Executable) };
        mounts.AddRange(config.WritableMounts.Where(m => m.Destination != "/tmp").Select(m => new MountSpec(MountKind.Tmpfs, m.Destination)));
        if (trustFile is not null)
            mounts.Add(new MountSpec(MountKind.ReadOnlyBind, TrustStore.BundlePath, trustFile));
        if (args.Network == NetworkMode.Host && File.Exists("/etc/resolv.conf"))
            mounts.Add(new MountSpec(MountKind.ReadOnlyBind, "/etc/resolv.conf", "/etc/resolv.conf"));
        mounts.AddRange(args.Mounts);

        var environment = config.Env.Select(e => e.Split('=', 2)).ToDictionary(kv => kv[0], kv => kv.Length > 1 ? kv[1] : "", StringComparer.Ordinal);
        foreach ((string key, string value) in args.Environment)
            environment[key] = value;
        return new SandboxSpec
        {
            RootFs = lease.RootFs,
            Command = args.Command,
            Mounts = mounts,
            Environment = environment.ToList(),
            WorkingDirectory = args.WorkingDirectory ?? config.Cwd,
            Hostname = args.Hostname,
            Network = args.Network,
            Uid = args.Uid,
            Gid = args.Gid,
        };
    }

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
