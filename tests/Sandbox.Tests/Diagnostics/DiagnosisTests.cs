using AutoReview.Sandbox.Diagnostics;
using AutoReview.Sandbox.Interop;
using Shouldly;
using Xunit;

namespace AutoReview.Sandbox.Tests.Diagnostics;

/// <summary>One test per cause a person may hit; each names the host that produces it.</summary>
public sealed class DiagnosisTests
{
    /// <summary>An unprivileged user on a host with nothing unusual about it.</summary>
    private static readonly HostFacts OrdinaryHost = new()
    {
        MaxUserNamespaces = 63432,
        SeccompMode = 0,
        NoNewPrivs = false,
        Uid = 1000,
    };

    private static readonly HostFacts UbuntuWithAppArmorRestriction =
        OrdinaryHost with { AppArmorRestrictUnprivilegedUserns = 1 };

    [Fact]
    public void CloneEnospc_WithMaxUserNamespacesZero_NamesTheSysctlAndFix()
    {
        var diagnosis = Diagnosis.Explain(
            SetupStep.CreateNamespaces, Errno.ENOSPC, OrdinaryHost with { MaxUserNamespaces = 0 });

        diagnosis.Cause.ShouldContain("user.max_user_namespaces is 0");
        diagnosis.Fix.ShouldContain("sudo sysctl -w user.max_user_namespaces=15000");
        diagnosis.Fix.ShouldContain("/etc/sysctl.d/");
    }

    [Fact]
    public void CloneEnospc_WithTheLimitReached_SaysAnotherProgramHoldsNamespaces()
    {
        var diagnosis = Diagnosis.Explain(
            SetupStep.CreateNamespaces, Errno.ENOSPC, OrdinaryHost with { MaxUserNamespaces = 100 });

        diagnosis.Cause.ShouldContain("limit is exhausted");
        diagnosis.Cause.ShouldContain("user.max_user_namespaces is 100");
        diagnosis.Fix.ShouldContain("lsns -t user");
        diagnosis.Fix.ShouldContain("sudo sysctl -w user.max_user_namespaces=15000");
    }

    [Fact]
    public void CloneEnospc_WithAHighLimitReached_SuggestsALimitAboveIt()
    {
        var diagnosis = Diagnosis.Explain(
            SetupStep.CreateNamespaces, Errno.ENOSPC, OrdinaryHost with { MaxUserNamespaces = 63432 });

        diagnosis.Fix.ShouldContain("sudo sysctl -w user.max_user_namespaces=126864");
    }

    [Fact]
    public void CloneEperm_WithDebianUnprivilegedUsernsCloneZero_NamesTheSysctlAndFix()
    {
        var diagnosis = Diagnosis.Explain(
            SetupStep.CreateNamespaces, Errno.EPERM, OrdinaryHost with { UnprivilegedUsernsClone = 0 });

        diagnosis.Cause.ShouldContain("kernel.unprivileged_userns_clone=0");
        diagnosis.Fix.ShouldContain("sudo sysctl -w kernel.unprivileged_userns_clone=1");
    }

    [Fact]
    public void CloneEperm_UnderSeccompFilter_NamesContainerProfile()
    {
        var diagnosis = Diagnosis.Explain(
            SetupStep.CreateNamespaces, Errno.EPERM,
            OrdinaryHost with { SeccompMode = 2, ContainerHint = "docker", Uid = 0 });

        diagnosis.Cause.ShouldContain("seccomp filter");
        diagnosis.Cause.ShouldContain("Docker's");
        diagnosis.Cause.ShouldContain("docker container");
        diagnosis.Fix.ShouldContain("--security-opt seccomp=unconfined");
        diagnosis.Fix.ShouldContain("outside the container");
        diagnosis.Fix.ShouldContain("`--bare`");
        diagnosis.Fix.ShouldContain("unsafe");
    }

    [Fact]
    public void CloneEperm_UnderUbuntuAppArmorRestriction_NamesAppArmorAndProfileFix()
    {
        var diagnosis = Diagnosis.Explain(SetupStep.CreateNamespaces, Errno.EPERM, UbuntuWithAppArmorRestriction);

        diagnosis.Cause.ShouldContain("kernel.apparmor_restrict_unprivileged_userns=1");
        diagnosis.Fix.ShouldContain("sudo apparmor_parser -r /etc/apparmor.d/auto-review");
    }

    [Fact]
    public void CloneEperm_WithNoKnownCause_BlamesTheKernelOrASecurityModule()
    {
        var diagnosis = Diagnosis.Explain(SetupStep.CreateNamespaces, Errno.EPERM, OrdinaryHost);

        diagnosis.Cause.ShouldContain("security module");
        diagnosis.Fix.ShouldContain("auto-review doctor");
    }

    [Fact]
    public void CloneEinval_NamesMissingUserNamespaceSupport()
    {
        var diagnosis = Diagnosis.Explain(SetupStep.CreateNamespaces, Errno.EINVAL, OrdinaryHost);

        diagnosis.Cause.ShouldContain("CONFIG_USER_NS");
        diagnosis.Fix.ShouldContain("ls /proc/self/ns");
    }

    [Fact]
    public void CloneEnomem_NamesTheMemoryLimit()
    {
        var diagnosis = Diagnosis.Explain(SetupStep.CreateNamespaces, Errno.ENOMEM, OrdinaryHost);

        diagnosis.Cause.ShouldContain("memory");
        diagnosis.Fix.ShouldContain("memory limit");
    }

    [Fact]
    public void CloneEagain_NamesTheProcessLimits()
    {
        var diagnosis = Diagnosis.Explain(SetupStep.CreateNamespaces, Errno.EAGAIN, OrdinaryHost);

        diagnosis.Cause.ShouldContain("RLIMIT_NPROC");
        diagnosis.Cause.ShouldContain("pids.max");
        diagnosis.Fix.ShouldContain("--pids-limit");
    }

    [Fact]
    public void UidMapEperm_UnderUbuntuAppArmorRestriction_NamesAppArmorAndProfileFix()
    {
        var diagnosis = Diagnosis.Explain(SetupStep.WriteUidMap, Errno.EPERM, UbuntuWithAppArmorRestriction);

        diagnosis.Cause.ShouldContain("namespace was created but AppArmor denied capabilities inside it");
        diagnosis.Cause.ShouldContain("kernel.apparmor_restrict_unprivileged_userns=1");
        diagnosis.Fix.ShouldContain("/etc/apparmor.d/auto-review");
        diagnosis.Fix.ShouldContain("profile auto-review /path/to/auto-review flags=(unconfined) {");
        diagnosis.Fix.ShouldContain("  userns,");
        diagnosis.Fix.ShouldContain("sudo apparmor_parser -r /etc/apparmor.d/auto-review");
        diagnosis.Fix.ShouldContain("sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0");
    }

    [Theory]
    [InlineData(SetupStep.DenySetgroups, Errno.EPERM)]
    [InlineData(SetupStep.WriteGidMap, Errno.EPERM)]
    [InlineData(SetupStep.MakeMountsPrivate, Errno.EACCES)]
    [InlineData(SetupStep.BindMount, Errno.EPERM)]
    [InlineData(SetupStep.MountTmpfs, Errno.EACCES)]
    [InlineData(SetupStep.MountDev, Errno.EPERM)]
    [InlineData(SetupStep.LoopbackUp, Errno.EPERM)]
    [InlineData(SetupStep.PivotRoot, Errno.EPERM)]
    [InlineData(SetupStep.SetHostname, Errno.EPERM)]
    public void CapabilityStepDenied_UnderUbuntuAppArmorRestriction_NamesAppArmor(SetupStep step, int errno)
    {
        var diagnosis = Diagnosis.Explain(step, errno, UbuntuWithAppArmorRestriction);

        diagnosis.Cause.ShouldContain("AppArmor denied capabilities");
    }

    [Fact]
    public void UidMapEperm_AsRootUnderAppArmorRestriction_DoesNotBlameAppArmor()
    {
        // The restriction spares callers with CAP_SYS_ADMIN.
        var diagnosis = Diagnosis.Explain(
            SetupStep.WriteUidMap, Errno.EPERM, UbuntuWithAppArmorRestriction with { Uid = 0 });

        diagnosis.Cause.ShouldNotContain("AppArmor");
        diagnosis.Fix.ShouldContain("auto-review doctor");
    }

    [Fact]
    public void ProcMountEperm_WithMaskedProc_NamesDockerSystempathsFix()
    {
        var facts = OrdinaryHost with { ProcSubmounts = ["/proc/kcore", "/proc/keys", "/proc/acpi"] };

        var diagnosis = Diagnosis.Explain(SetupStep.MountProc, Errno.EPERM, facts);

        diagnosis.Cause.ShouldContain("/proc is masked (3 paths mounted over it, e.g. /proc/kcore)");
        diagnosis.Fix.ShouldContain("--security-opt systempaths=unconfined");
        diagnosis.Fix.ShouldContain("--security-opt unmask=ALL");
        diagnosis.Fix.ShouldContain("on the host");
    }

    [Fact]
    public void ProcMountEperm_UnderUbuntuAppArmorRestriction_NamesAppArmor()
    {
        var diagnosis = Diagnosis.Explain(SetupStep.MountProc, Errno.EPERM, UbuntuWithAppArmorRestriction);

        diagnosis.Cause.ShouldContain("AppArmor denied capabilities");
    }

    [Fact]
    public void ProcMountEperm_WithUnmaskedProc_PointsAtOtherProcMountsAndTheKernelLog()
    {
        var diagnosis = Diagnosis.Explain(SetupStep.MountProc, Errno.EPERM, OrdinaryHost);

        diagnosis.Cause.ShouldContain("not masked");
        diagnosis.Fix.ShouldContain("findmnt -t proc");
    }

    [Fact]
    public void RemountEperm_NamesTheLockedFlagsAsALauncherBug()
    {
        var diagnosis = Diagnosis.Explain(SetupStep.RemountReadOnly, Errno.EPERM, OrdinaryHost);

        diagnosis.Cause.ShouldContain("nosuid, nodev, noexec or an atime flag");
        diagnosis.Cause.ShouldContain("launcher bug");
        diagnosis.Fix.ShouldContain("report it");
    }

    [Theory]
    [InlineData(SetupStep.BindMount)]
    [InlineData(SetupStep.MountTmpfs)]
    [InlineData(SetupStep.MountDev)]
    [InlineData(SetupStep.PivotRoot)]
    public void MountEnoent_SaysTheSourceOrDestinationIsMissing(SetupStep step)
    {
        var diagnosis = Diagnosis.Explain(step, Errno.ENOENT, OrdinaryHost);

        diagnosis.Cause.ShouldContain("does not exist");
        diagnosis.Cause.ShouldContain("source");
        diagnosis.Cause.ShouldContain("destination");
    }

    [Theory]
    [InlineData(Errno.ENOTDIR)]
    [InlineData(Errno.EISDIR)]
    public void BindMountFileOntoDirectory_NamesTheMismatch(int errno)
    {
        var diagnosis = Diagnosis.Explain(SetupStep.BindMount, errno, OrdinaryHost);

        diagnosis.Cause.ShouldContain("one is a file and the other a directory");
        diagnosis.Fix.ShouldContain("a file onto a file and a directory onto a directory");
    }

    [Fact]
    public void ExecEnoent_NamesAMissingCommandOrLoader()
    {
        var diagnosis = Diagnosis.Explain(SetupStep.Exec, Errno.ENOENT, OrdinaryHost);

        diagnosis.Cause.ShouldContain("does not exist inside the sandbox's root");
        diagnosis.Cause.ShouldContain("ELF interpreter");
        diagnosis.Fix.ShouldContain("ldd");
    }

    [Fact]
    public void ExecEacces_NamesPermissionOrNoexec()
    {
        var diagnosis = Diagnosis.Explain(SetupStep.Exec, Errno.EACCES, OrdinaryHost);

        diagnosis.Cause.ShouldContain("execute permission");
        diagnosis.Cause.ShouldContain("noexec");
    }

    [Fact]
    public void ExecEnoexec_SaysThereIsNoShellToRunScripts()
    {
        var diagnosis = Diagnosis.Explain(SetupStep.Exec, Errno.ENOEXEC, OrdinaryHost);

        diagnosis.Cause.ShouldContain("no shell");
        diagnosis.Fix.ShouldContain("#!");
    }

    [Theory]
    [InlineData(Errno.EINVAL)]
    [InlineData(Errno.EFAULT)]
    public void SeccompInstallRejected_NamesMissingFilterSupport(int errno)
    {
        var diagnosis = Diagnosis.Explain(SetupStep.InstallSeccomp, errno, OrdinaryHost);

        diagnosis.Cause.ShouldContain("CONFIG_SECCOMP_FILTER");
        diagnosis.Fix.ShouldContain("CONFIG_SECCOMP_FILTER=y");
    }

    [Fact]
    public void SeccompInstallRejected_OnAKernelWithoutSeccomp_SaysSo()
    {
        var diagnosis = Diagnosis.Explain(
            SetupStep.InstallSeccomp, Errno.EINVAL, OrdinaryHost with { SeccompMode = null });

        diagnosis.Cause.ShouldContain("this kernel has no seccomp");
    }

    [Fact]
    public void NoNewPrivsEinval_NamesTheOldKernel()
    {
        var diagnosis = Diagnosis.Explain(SetupStep.NoNewPrivileges, Errno.EINVAL, OrdinaryHost);

        diagnosis.Cause.ShouldContain("PR_SET_NO_NEW_PRIVS");
        diagnosis.Fix.ShouldContain("Linux 3.5");
    }

    [Fact]
    public void UnknownCombination_FallsBackToDoctor()
    {
        var diagnosis = Diagnosis.Explain(
            SetupStep.ChangeDirectory, Errno.ELOOP, OrdinaryHost with { ContainerHint = "podman" });

        diagnosis.Cause.ShouldStartWith("changing to the working directory failed with ELOOP");
        diagnosis.Cause.ShouldContain("podman container");
        diagnosis.Fix.ShouldBe("run `auto-review doctor` for the isolation posture of this machine");
    }

    [Fact]
    public void EveryStep_HasAPhraseInWords()
    {
        foreach (var step in Enum.GetValues<SetupStep>())
            Diagnosis.Describe(step).ShouldNotBe(step.ToString(), $"{step} has no phrase in Describe");
    }

    [Fact]
    public void Format_ForProcMountInsideDocker_GivesStepCauseFixAndFailClosedLines()
    {
        using var proc = new FakeProc()
            .Write("self/mountinfo", MountinfoFixtures.Docker)
            .Write("self/status", "Uid:\t0\t0\t0\t0\nNoNewPrivs:\t1\nSeccomp:\t0\n")
            .Write("self/cgroup", "0::/docker/4f1c2b\n");

        var message = Diagnosis.Format(
            SetupStep.MountProc, "proc on /proc", Errno.EPERM, HostFacts.Read(proc.Root));

        var lines = message.Split('\n');
        lines.Length.ShouldBe(4);
        lines[0].ShouldBe($"sandbox setup failed: mounting /proc (proc on /proc): {Errno.Describe(Errno.EPERM)}");
        lines[1].ShouldStartWith("  cause: /proc is masked (10 paths mounted over it, e.g. /proc/bus)");
        lines[2].ShouldStartWith("  fix: for Docker, run the container with `--security-opt systempaths=unconfined`");
        lines[3].ShouldBe(
            "  auto-review did not run anything unsandboxed. (--bare runs without isolation, and says so.)");
    }

    [Fact]
    public void Format_WithAMultiLineFix_IndentsTheProfileUnderTheLabels()
    {
        var message = Diagnosis.Format(SetupStep.LoopbackUp, "lo", Errno.EPERM, UbuntuWithAppArmorRestriction);

        message.ShouldContain("\n    profile auto-review /path/to/auto-review flags=(unconfined) {\n      userns,\n    }\n");
        message.Split('\n').Skip(1).ShouldAllBe(line => line.Length == 0 || line.StartsWith("  "));
    }

    [Fact]
    public void Format_WithoutDetail_LeavesOutTheParentheses()
    {
        var message = Diagnosis.Format(SetupStep.CreateNamespaces, "", Errno.ENOSPC, OrdinaryHost);

        message.ShouldStartWith(
            $"sandbox setup failed: creating the namespaces (clone with CLONE_NEWUSER): {Errno.Describe(Errno.ENOSPC)}\n");
    }
}
