using System.Diagnostics;
using AutoReview.Sandbox;
using Xunit;

namespace AutoReview.Sandbox.Tests.Integration;

/// <summary>The built single-file binary the tests run (AUTO_REVIEW_BIN, as test.sh sets it, or dist/auto-review).</summary>
internal static class AutoReviewBinary
{
    public static string Path { get; } = Locate();

    private static string Locate()
    {
        string? fromEnv = Environment.GetEnvironmentVariable("AUTO_REVIEW_BIN");
        if (!string.IsNullOrEmpty(fromEnv))
            return File.Exists(fromEnv) ? fromEnv : throw new FileNotFoundException($"AUTO_REVIEW_BIN={fromEnv} does not exist; run ./build.sh");
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = System.IO.Path.Combine(dir.FullName, "dist", "auto-review");
            if (File.Exists(System.IO.Path.Combine(dir.FullName, "AutoReview.sln")))
                return File.Exists(candidate) ? candidate : throw new FileNotFoundException($"{candidate} does not exist; run ./build.sh (test.sh does)");
        }
        throw new FileNotFoundException("cannot find the repository root (AutoReview.sln) above the test binaries");
    }
}

/// <summary>The result of running a command to completion.</summary>
internal sealed record CommandResult(int ExitCode, string Stdout, string Stderr)
{
    public override string ToString() => $"exit {ExitCode}\n--- stdout\n{Stdout}\n--- stderr\n{Stderr}";
}

internal static class Commands
{
    public static CommandResult Run(string file, IEnumerable<string> args, TimeSpan? timeout = null)
    {
        using Process process = Start(file, args);
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(timeout ?? TimeSpan.FromSeconds(60)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', args)} did not finish in time");
        }
        return new CommandResult(process.ExitCode, stdout.Result, stderr.Result);
    }

    public static Process Start(string file, IEnumerable<string> args)
    {
        var start = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (string arg in args) start.ArgumentList.Add(arg);
        return Process.Start(start)!;
    }

    public static CommandResult AutoReview(params string[] args) => Run(AutoReviewBinary.Path, args);
}

/// <summary>
/// A throwaway root for launcher tests: empty mount points, merged-/usr symlinks, and the host's /usr
/// bound read-only at launch. (The embedded bundle is the product's root; this one tests the launcher.)
/// </summary>
public sealed class TestRootFs : IDisposable
{
    public TestRootFs()
    {
        Path = Directory.CreateTempSubdirectory("ar-rootfs-").FullName;
        foreach (string dir in new[] { "usr", "etc", "proc", "dev", "tmp", "work", "data" })
            Directory.CreateDirectory(System.IO.Path.Combine(Path, dir));
        File.CreateSymbolicLink(System.IO.Path.Combine(Path, "lib"), "usr/lib");
        File.CreateSymbolicLink(System.IO.Path.Combine(Path, "lib64"), "usr/lib64");
        File.CreateSymbolicLink(System.IO.Path.Combine(Path, "bin"), "usr/bin");
        File.WriteAllText(System.IO.Path.Combine(Path, "probe"), "");
    }

    public string Path { get; }

    /// <summary>`sandbox run` arguments for this root, with /usr bound and the auto-review binary at /probe.</summary>
    public string[] RunArgs(params string[] extra) =>
        ["sandbox", "run", "--rootfs", Path, "--ro-bind", "/usr", "/usr", "--ro-bind", AutoReviewBinary.Path, "/probe", .. extra];

    public SandboxSpec Spec(params string[] command) => new()
    {
        RootFs = Path,
        Command = command,
        Mounts = [new MountSpec(MountKind.ReadOnlyBind, "/usr", "/usr")],
    };

    public void Dispose() => Directory.Delete(Path, recursive: true);
}

/// <summary>Skips (with the reason printed) when this machine cannot create user namespaces at all.</summary>
internal static class Capability
{
    private static readonly Lazy<string?> Missing = new(() =>
    {
        using var root = new TestRootFs();
        try
        {
            Launcher.Run(root.Spec("/usr/bin/true"));
            return null;
        }
        catch (SandboxSetupException e) when (e.Step == SetupStep.CreateNamespaces)
        {
            return $"this machine cannot create user namespaces: {e.Message}";
        }
    });

    public static void RequireUserNamespaces() => Skip.If(Missing.Value is not null, Missing.Value);

    public static void RequireTool(string tool) =>
        Skip.If(!File.Exists(tool), $"{tool} is not installed here (.ci/run installs it)");
}
