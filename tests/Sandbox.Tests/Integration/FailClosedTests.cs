using AutoReview.TestInfrastructure;
using Shouldly;
using Xunit;

namespace AutoReview.Sandbox.Tests.Integration;

/// <summary>
/// Each refusal this machine can reproduce, produced for real: the launcher must stop with exit 125,
/// name the cause and the fix, and never run the payload unsandboxed.
/// </summary>
[Trait("Category", "Sandbox")]
public sealed class FailClosedTests : IDisposable
{
    private const string Unshare = "/usr/bin/unshare";
    private const string FailClosedLine = "did not run anything unsandboxed";
    private readonly TestRootFs _root = new();

    public void Dispose() => _root.Dispose();

    private CommandResult UnderShell(string[] unshareFlags, string setup)
    {
        Capability.RequireUserNamespaces();
        Capability.RequireTool(Unshare);
        // The payload would exit 0; exit 125 with the diagnosis proves it never ran.
        string[] launcher = [AutoReviewBinary.Path, .. _root.RunArgs(), "--", "/usr/bin/true"];
        return Commands.Run(Unshare, [.. unshareFlags, "/bin/sh", "-c", $"{setup} && exec \"$@\"", "sh", .. launcher]);
    }

    [SkippableFact]
    public void UserNamespacesDisabled_MaxUserNamespacesZero_FailsClosedWithTheSysctlFix()
    {
        ShouldFailClosed(UnderShell(["--user", "--map-root-user"], "echo 0 > /proc/sys/user/max_user_namespaces"),
            "max_user_namespaces", "sysctl");
    }

    [SkippableFact]
    public void MaskedProc_AsInAContainer_FailsClosedWithTheRuntimeFix()
    {
        ShouldFailClosed(UnderShell(["--user", "--map-root-user", "--mount"], "/usr/bin/mount -t tmpfs none /proc/sys"),
            "proc", "masked");
    }

    [SkippableFact]
    public void SeccompProfileBlockingNamespaces_AsInDocker_FailsClosedWithTheProfileFix()
    {
        Capability.RequireUserNamespaces();
        // Our own sandbox is exactly such a container: its filter denies clone with namespace flags.
        // The inner launcher gets the test root (read-only at /data) as its root.
        CommandResult result = Commands.AutoReview([
            .. _root.RunArgs("--ro-bind", _root.Path, "/data"), "--",
            "/probe", "sandbox", "run", "--rootfs", "/data", "--ro-bind", "/usr", "/usr", "--", "/usr/bin/true",
        ]);
        ShouldFailClosed(result, "seccomp");
    }

    private static void ShouldFailClosed(CommandResult result, params string[] diagnosisMentions)
    {
        result.ExitCode.ShouldBe(125, result.ToString());
        foreach (string mention in diagnosisMentions)
            result.Stderr.ShouldContain(mention);
        result.Stderr.ShouldContain(FailClosedLine);
        result.Stderr.ShouldNotContain("   at ");
    }
}
