using System.Diagnostics;
using AutoReview.TestInfrastructure;
using Shouldly;
using Xunit;

namespace AutoReview.Sandbox.Tests.Integration;

/// <summary>The launcher as a process: exit status, signals, environment, cleanup, errors.</summary>
[Trait("Category", "Sandbox")]
public sealed class LauncherBehaviourTests : IDisposable
{
    private readonly TestRootFs _root = new();

    public void Dispose() => _root.Dispose();

    private CommandResult Sandboxed(params string[] command) =>
        Commands.AutoReview([.. _root.RunArgs(), "--", .. command]);

    [SkippableFact]
    public void ExitCode_OfThePayload_IsPropagated()
    {
        Capability.RequireUserNamespaces();
        Sandboxed("/bin/sh", "-c", "exit 42").ExitCode.ShouldBe(42);
        Sandboxed("/usr/bin/true").ExitCode.ShouldBe(0);
    }

    [SkippableFact]
    public void DeathBySignal_IsReportedAs128PlusTheSignal()
    {
        Capability.RequireUserNamespaces();
        Sandboxed("/bin/sh", "-c", "kill -TERM $$").ExitCode.ShouldBe(128 + 15);
    }

    [SkippableFact]
    public void MountsNestedInTheReadOnlyRoot_AreReadOnlyToo()
    {
        Capability.RequireUserNamespaces();
        Capability.RequireTool("/usr/bin/unshare");
        // In a mount namespace of its own, a writable tmpfs is mounted inside the rootfs directory; the
        // sandbox's recursive bind of the root brings it along, and it must not stay writable.
        string[] launcher = [AutoReviewBinary.Path, .. _root.RunArgs(), "--", "/bin/sh", "-c", "echo x > /data/escape"];
        CommandResult result = Commands.Run("/usr/bin/unshare",
            ["--user", "--map-root-user", "--mount", "/bin/sh", "-c", $"mount -t tmpfs none '{_root.Path}/data' && exec \"$@\"", "sh", .. launcher]);
        result.ExitCode.ShouldNotBe(0, result.ToString());
        result.Stderr.ShouldContain("Read-only file system");
    }

    [SkippableFact]
    public void OrphansInsideTheSandbox_AreReapedByItsInit()
    {
        Capability.RequireUserNamespaces();
        // The inner shell exits at once, orphaning its background child onto pid 1; once that child exits,
        // only init's wait4 can clear it. No process may stay a zombie while the payload still runs.
        CommandResult result = Sandboxed("/bin/sh", "-c",
            "/bin/sh -c '/usr/bin/true &'; /usr/bin/sleep 0.5; /usr/bin/grep -l '^State:.Z' /proc/[0-9]*/status || echo no-zombies");
        result.ExitCode.ShouldBe(0, result.ToString());
        result.Stdout.Trim().ShouldBe("no-zombies");
    }

    [SkippableFact]
    public void Environment_StartsEmpty_WithOnlyWhatIsSet()
    {
        Capability.RequireUserNamespaces();
        CommandResult result = Commands.AutoReview([.. _root.RunArgs("--setenv", "ONLY", "this"), "--", "/usr/bin/env"]);
        result.ExitCode.ShouldBe(0, result.ToString());
        result.Stdout.Trim().ShouldBe("ONLY=this");
    }

    [SkippableFact]
    public void UidAndGid_InsideAreTheBundleUser_ByDefault_AndConfigurable()
    {
        Capability.RequireUserNamespaces();
        Sandboxed("/usr/bin/id", "-u").Stdout.Trim().ShouldBe("65532");
        Commands.AutoReview([.. _root.RunArgs("--uid", "1234", "--gid", "4321"), "--", "/usr/bin/id"]).Stdout.Trim()
            .ShouldStartWith("uid=1234 gid=4321");
    }

    [SkippableFact]
    public void PathLookup_FindsCommandsWithoutSlash()
    {
        Capability.RequireUserNamespaces();
        Commands.AutoReview([.. _root.RunArgs("--setenv", "PATH", "/nowhere:/usr/bin"), "--", "echo", "found"]).Stdout.Trim().ShouldBe("found");
    }

    [SkippableFact]
    public void TmpfsAndBinds_NestInCommandLineOrder()
    {
        Capability.RequireUserNamespaces();
        string hostDir = Directory.CreateTempSubdirectory("ar-bind-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(hostDir, "file"), "from host");
            CommandResult result = Commands.AutoReview([.. _root.RunArgs("--tmpfs", "/work", "--bind", hostDir, "/work/deep/repo"),
                "--", "/bin/sh", "-c", "cat /work/deep/repo/file && echo written > /work/deep/repo/new && touch /work/scratch"]);
            result.ExitCode.ShouldBe(0, result.ToString());
            result.Stdout.ShouldBe("from host");
            File.ReadAllText(Path.Combine(hostDir, "new")).ShouldBe("written\n");
        }
        finally
        {
            Directory.Delete(hostDir, recursive: true);
        }
    }

    [SkippableFact]
    public void SigtermToTheLauncher_IsForwardedToThePayload()
    {
        Capability.RequireUserNamespaces();
        using Process launcher = Commands.Start(AutoReviewBinary.Path,
            [.. _root.RunArgs(), "--", "/bin/sh", "-c", "trap 'exit 7' TERM; echo ready; while :; do sleep 0.05; done"]);
        launcher.StandardOutput.ReadLine().ShouldBe("ready");
        Process.Start("kill", ["-TERM", launcher.Id.ToString()])!.WaitForExit();
        launcher.WaitForExit(10_000).ShouldBeTrue("the launcher did not exit after SIGTERM");
        launcher.ExitCode.ShouldBe(7);
    }

    [SkippableFact]
    public void SigkillOfTheLauncher_LeavesNoProcessBehind()
    {
        Capability.RequireUserNamespaces();
        string marker = $"{Random.Shared.Next(100_000, 999_999)}.5";
        using Process launcher = Commands.Start(AutoReviewBinary.Path,
            [.. _root.RunArgs(), "--", "/bin/sh", "-c", $"echo ready; /usr/bin/sleep {marker} & /usr/bin/sleep {marker}"]);
        launcher.StandardOutput.ReadLine().ShouldBe("ready");
        WaitUntil(() => ProcessesWithArgument(marker).Count == 2, "the payload's sleeps to start");

        launcher.Kill();
        launcher.WaitForExit();

        WaitUntil(() => ProcessesWithArgument(marker).Count == 0, "the sandbox to be torn down");
    }

    [SkippableFact]
    public void CommandNotFound_Exits127_WithTheDiagnosis()
    {
        Capability.RequireUserNamespaces();
        CommandResult result = Sandboxed("/usr/bin/no-such-command");
        result.ExitCode.ShouldBe(127);
        result.Stderr.ShouldContain("/usr/bin/no-such-command");
        result.Stderr.ShouldContain("ENOENT");
        result.Stdout.ShouldBeEmpty();
    }

    [Fact]
    public void MissingMountPoint_IsRefusedBeforeAnythingRuns_Exit125()
    {
        CommandResult result = Commands.AutoReview([.. _root.RunArgs("--ro-bind", "/usr", "/not-in-root"), "--", "/usr/bin/true"]);
        result.ExitCode.ShouldBe(125);
        result.Stderr.ShouldContain("/not-in-root");
        result.Stderr.ShouldContain("does not exist");
        result.Stderr.ShouldNotContain("   at ");
    }

    [Fact]
    public void MountPointThroughASymlink_IsRefused()
    {
        CommandResult result = Commands.AutoReview([.. _root.RunArgs("--tmpfs", "/bin"), "--", "/usr/bin/true"]);
        result.ExitCode.ShouldBe(125);
        result.Stderr.ShouldContain("symlink");
    }

    [Fact]
    public void UnknownOption_IsAUsageError_Exit2()
    {
        CommandResult result = Commands.AutoReview("sandbox", "run", "--frobnicate", "--", "/usr/bin/true");
        result.ExitCode.ShouldBe(2);
        result.Stderr.ShouldContain("--frobnicate");
    }

    [Fact]
    public void Bare_RunsWithoutIsolation_OnlyWhenAsked_AndWarns()
    {
        CommandResult result = Commands.AutoReview("sandbox", "run", "--bare", "--", "/usr/bin/true");
        result.ExitCode.ShouldBe(0);
        result.Stderr.ShouldContain("WARNING");
        result.Stderr.ShouldContain("without any isolation");
    }

    [Fact]
    public void Bare_WithAMissingCommand_Exits127_WithoutAStackTrace()
    {
        CommandResult result = Commands.AutoReview("sandbox", "run", "--bare", "--", "/no/such/command");
        result.ExitCode.ShouldBe(127);
        result.Stderr.ShouldContain("/no/such/command");
        result.Stderr.ShouldNotContain("   at ");
    }

    [Theory]
    [InlineData("--help")]
    [InlineData("doctor", "--help")]
    [InlineData("sandbox", "run", "--help")]
    [InlineData("sandbox", "probe", "--help")]
    public void EveryVerb_HasHelp_UnderNativeAot(params string[] args)
    {
        CommandResult result = Commands.AutoReview(args);
        result.ExitCode.ShouldBe(0, result.ToString());
        (result.Stdout + result.Stderr).ShouldContain("--");
    }

    private static List<int> ProcessesWithArgument(string argument) =>
        Directory.EnumerateDirectories("/proc")
            .Where(d => Path.GetFileName(d).All(char.IsAsciiDigit))
            .Where(d =>
            {
                try { return File.ReadAllText(Path.Combine(d, "cmdline")).Split('\0').Contains(argument); }
                catch (IOException) { return false; }
                catch (UnauthorizedAccessException) { return false; }
            })
            .Select(d => int.Parse(Path.GetFileName(d)))
            .ToList();

    private static void WaitUntil(Func<bool> condition, string what)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            if (clock.Elapsed > TimeSpan.FromSeconds(15))
                throw new TimeoutException($"timed out waiting for {what}");
            Thread.Sleep(20);
        }
    }
}
