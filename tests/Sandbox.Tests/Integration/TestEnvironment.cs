using AutoReview.Sandbox;
using AutoReview.TestInfrastructure;
using Xunit;

namespace AutoReview.Sandbox.Tests.Integration;

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
