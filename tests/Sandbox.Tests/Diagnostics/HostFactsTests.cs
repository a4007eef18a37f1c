using AutoReview.Sandbox.Diagnostics;
using Shouldly;
using Tmds.Linux;
using Xunit;

namespace AutoReview.Sandbox.Tests.Diagnostics;

public sealed class HostFactsTests : IDisposable
{
    private readonly FakeProc _proc = new();

    public void Dispose() => _proc.Dispose();

    private HostFacts Read() => HostFacts.Read(_proc.Root);

    [Fact]
    public void EmptyProcTree_GivesUnknownForEveryFact()
    {
        var facts = Read();

        facts.MaxUserNamespaces.ShouldBeNull();
        facts.UnprivilegedUsernsClone.ShouldBeNull();
        facts.AppArmorRestrictUnprivilegedUserns.ShouldBeNull();
        facts.SeccompMode.ShouldBeNull();
        facts.NoNewPrivs.ShouldBeNull();
        facts.ProcSubmounts.ShouldBeEmpty();
        facts.ProcIsMasked.ShouldBeFalse();
        facts.ContainerHint.ShouldBeNull();
        facts.Uid.ShouldBe(-1);
    }

    [Fact]
    public void MissingProcRoot_GivesUnknownRatherThanThrowing()
    {
        var facts = HostFacts.Read(Path.Combine(_proc.Root, "does-not-exist"));

        facts.MaxUserNamespaces.ShouldBeNull();
        facts.Uid.ShouldBe(-1);
    }

    [Theory]
    [InlineData("15000\n", 15000)]
    [InlineData("0\n", 0)]
    [InlineData("  42  ", 42)]
    [InlineData("garbage\n", null)]
    [InlineData("", null)]
    [InlineData("99999999999999999999\n", null)]
    public void MaxUserNamespaces_IsParsedOrUnknown(string content, int? expected)
    {
        _proc.Write("sys/user/max_user_namespaces", content);

        Read().MaxUserNamespaces.ShouldBe(expected);
    }

    [Theory]
    [InlineData("0\n", 0)]
    [InlineData("1\n", 1)]
    [InlineData("yes\n", null)]
    public void DebianUnprivilegedUsernsClone_IsParsedOrUnknown(string content, int? expected)
    {
        _proc.Write("sys/kernel/unprivileged_userns_clone", content);

        Read().UnprivilegedUsernsClone.ShouldBe(expected);
    }

    [Theory]
    [InlineData("1\n", 1)]
    [InlineData("0\n", 0)]
    [InlineData("\n", null)]
    public void UbuntuAppArmorRestriction_IsParsedOrUnknown(string content, int? expected)
    {
        _proc.Write("sys/kernel/apparmor_restrict_unprivileged_userns", content);

        Read().AppArmorRestrictUnprivilegedUserns.ShouldBe(expected);
    }

    [Fact]
    public void SysctlsAbsentOnThisKernel_AreUnknownWhileOthersAreRead()
    {
        _proc.Write("sys/user/max_user_namespaces", "63432\n");

        var facts = Read();

        facts.MaxUserNamespaces.ShouldBe(63432);
        facts.UnprivilegedUsernsClone.ShouldBeNull();
        facts.AppArmorRestrictUnprivilegedUserns.ShouldBeNull();
    }

    [Fact]
    public void Status_OfAnUnconfinedProcess_GivesUidSeccompZeroAndNoNewPrivsOff()
    {
        _proc.Write("self/status", Status(uid: "1000\t1000\t1000\t1000", noNewPrivs: "0", seccomp: "0"));

        var facts = Read();

        facts.Uid.ShouldBe(1000);
        facts.SeccompMode.ShouldBe(0);
        facts.NoNewPrivs.ShouldBe(false);
    }

    [Fact]
    public void Status_InsideADockerContainer_GivesSeccompFilterModeAndNoNewPrivs()
    {
        _proc.Write("self/status", Status(uid: "0\t0\t0\t0", noNewPrivs: "1", seccomp: "2"));

        var facts = Read();

        facts.Uid.ShouldBe(0);
        facts.SeccompMode.ShouldBe(2);
        facts.NoNewPrivs.ShouldBe(true);
    }

    [Fact]
    public void Status_WithGarbledValues_GivesUnknown()
    {
        _proc.Write("self/status", Status(uid: "nobody", noNewPrivs: "maybe", seccomp: "x"));

        var facts = Read();

        facts.Uid.ShouldBe(-1);
        facts.SeccompMode.ShouldBeNull();
        facts.NoNewPrivs.ShouldBeNull();
    }

    [Fact]
    public void Status_OfAKernelWithoutSeccomp_HasNoSeccompLine()
    {
        _proc.Write("self/status", "Name:\tdotnet\nUid:\t1000\t1000\t1000\t1000\nNoNewPrivs:\t0\n");

        var facts = Read();

        facts.SeccompMode.ShouldBeNull();
        facts.Uid.ShouldBe(1000);
    }

    [Fact]
    public void Mountinfo_InsideDocker_ShowsProcMasked()
    {
        _proc.Write("self/mountinfo", MountinfoFixtures.Docker);

        var facts = Read();

        facts.ProcIsMasked.ShouldBeTrue();
        facts.ProcSubmounts.ShouldBe([
            "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
            "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/scsi",
        ]);
    }

    [Fact]
    public void Mountinfo_OfAPlainHostWithBinfmtMisc_IsNotMasked()
    {
        _proc.Write("self/mountinfo", MountinfoFixtures.PlainHost);

        var facts = Read();

        facts.ProcIsMasked.ShouldBeFalse();
        facts.ProcSubmounts.ShouldBeEmpty();
    }

    [Fact]
    public void Mountinfo_UnescapesOctalEscapesInMountPoints()
    {
        _proc.Write("self/mountinfo",
            "22 1 0:21 / /proc rw - proc proc rw\n"
            + "50 22 0:60 / /proc/odd\\040name\\011tab\\134slash ro - tmpfs tmpfs ro\n");

        Read().ProcSubmounts.ShouldBe(["/proc/odd name\ttab\\slash"]);
    }

    [Fact]
    public void Mountinfo_CountsOnlyMountsStrictlyBelowProc()
    {
        _proc.Write("self/mountinfo",
            "22 1 0:21 / /proc rw - proc proc rw\n"
            + "60 1 0:61 / /proc2 rw - tmpfs tmpfs rw\n"
            + "61 1 0:62 / /host/proc/kcore rw - tmpfs tmpfs rw\n"
            + "62 1 0:63 / /mnt/proc\\040dir/ rw - tmpfs tmpfs rw\n");

        Read().ProcIsMasked.ShouldBeFalse();
    }

    [Fact]
    public void Mountinfo_WithGarbledLines_SkipsThem()
    {
        _proc.Write("self/mountinfo", "not a mountinfo line\n\n1 2\n70 22 0:71 / /proc/kcore rw - tmpfs tmpfs rw\n");

        Read().ProcSubmounts.ShouldBe(["/proc/kcore"]);
    }

    [Theory]
    [InlineData("0::/system.slice/docker-4f1c2b.scope\n", "docker")]
    [InlineData("12:pids:/docker/4f1c2b\n0::/docker/4f1c2b\n", "docker")]
    [InlineData("0::/kubepods.slice/kubepods-besteffort.slice/docker-4f1c2b.scope\n", "kubernetes")]
    [InlineData("0::/machine.slice/libpod-4f1c2b.scope/container\n", "podman")]
    [InlineData("0::/system.slice/cri-containerd-4f1c2b.scope\n", "containerd")]
    [InlineData("0::/user.slice/user-1000.slice/session-2.scope\n", null)]
    public void ContainerHint_ComesFromOurCgroup(string cgroup, string? expected)
    {
        _proc.Write("self/cgroup", cgroup);

        Read().ContainerHint.ShouldBe(expected);
    }

    [Fact]
    public void ContainerHint_ComesFromPidOnesCgroup_WhenOursSaysNothing()
    {
        _proc.Write("self/cgroup", "0::/\n").Write("1/cgroup", "0::/docker/4f1c2b\n");

        Read().ContainerHint.ShouldBe("docker");
    }

    [Fact]
    public void ContainerHint_PrefersPidOnesContainerVariable()
    {
        _proc.Write("1/environ", "PATH=/usr/bin\0container=podman\0HOME=/root\0")
            .Write("self/cgroup", "0::/\n");

        Read().ContainerHint.ShouldBe("podman");
    }

    [Fact]
    public void RealProc_OfThisMachine_GivesRobustFacts()
    {
        var facts = HostFacts.Read();

        facts.Uid.ShouldBe((int)(uint)LibC.getuid());
        facts.MaxUserNamespaces.ShouldNotBeNull();
    }

    private static string Status(string uid, string noNewPrivs, string seccomp) => $"""
        Name:	dotnet
        Umask:	0022
        State:	R (running)
        Uid:	{uid}
        Gid:	{uid}
        CapEff:	0000000000000000
        NoNewPrivs:	{noNewPrivs}
        Seccomp:	{seccomp}
        Seccomp_filters:	1
        Speculation_Store_Bypass:	thread vulnerable

        """;
}
