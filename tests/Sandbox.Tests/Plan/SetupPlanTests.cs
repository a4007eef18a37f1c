using System.Buffers.Binary;
using System.Text;
using AutoReview.Sandbox.Interop;
using AutoReview.Sandbox.Native;
using Shouldly;
using Xunit;
using static AutoReview.Sandbox.Interop.LinuxConstants;

namespace AutoReview.Sandbox.Tests.Plan;

/// <summary>
/// The child's setup as a sequence of syscalls, checked without running it (youki's pattern): each test
/// names the kernel rule or the escape that the order or the arguments guard against.
/// </summary>
public sealed class SetupPlanTests
{
    private const string Root = FakeHost.Root;
    private const int StatusWriteFd = 17;

    private static SandboxSpec Spec(params MountSpec[] mounts) =>
        new() { RootFs = Root, Command = ["/usr/bin/true"], Mounts = mounts };

    private static ChildProgram Build(SandboxSpec spec, FakeHost? host = null) =>
        SetupPlan.Build(spec, host ?? FakeHost.Typical(), StatusWriteFd);

    private static SandboxException Refused(SandboxSpec spec, FakeHost? host = null) =>
        Should.Throw<SandboxException>(() => Build(spec, host));

    // ---- user namespace: id maps ---------------------------------------------------------------------

    [Fact]
    public void SetgroupsIsDenied_BeforeGidMapIsWritten()
    {
        // Since Linux 3.19 an unprivileged writer of gid_map gets EPERM unless setgroups is "deny" first.
        ChildProgram program = Build(Spec());
        var writes = PlanQueries.ProcFileWrites(program);

        var setgroups = writes.Single(w => w.Path == "/proc/self/setgroups");
        var gidMap = writes.Single(w => w.Path == "/proc/self/gid_map");
        setgroups.Text.ShouldBe("deny");
        setgroups.WriteIndex.ShouldBeLessThan(gidMap.OpenIndex, $"setgroups must be denied before gid_map is opened:\n{program}");
    }

    [Fact]
    public void UidAndGidMaps_MapTheInvokingUserOntoTheSpecIds_AsASingleLine()
    {
        var writes = PlanQueries.ProcFileWrites(Build(Spec(), FakeHost.Typical()));

        writes.Single(w => w.Path == "/proc/self/uid_map").Text.ShouldBe("65532 1000 1\n");
        writes.Single(w => w.Path == "/proc/self/gid_map").Text.ShouldBe("65532 1000 1\n");
    }

    [Fact]
    public void UidAndGidMaps_AreNotSwapped_InsideOutsideOrder()
    {
        // "<id inside> <id outside> <count>": swapping columns or uid/gid maps the wrong identity.
        var host = FakeHost.Typical();
        host.Uid = 1000;
        host.Gid = 1001;
        var writes = PlanQueries.ProcFileWrites(Build(Spec() with { Uid = 0, Gid = 7 }, host));

        writes.Single(w => w.Path == "/proc/self/uid_map").Text.ShouldBe("0 1000 1\n");
        writes.Single(w => w.Path == "/proc/self/gid_map").Text.ShouldBe("7 1001 1\n");
    }

    [Fact]
    public void ProcFiles_AreWrittenThroughTheFdJustOpenedForThem()
    {
        // openat saves its fd; write and close take it as arg0. A fixed fd would write the map elsewhere.
        ChildProgram program = Build(Spec());
        foreach (var w in PlanQueries.ProcFileWrites(program))
        {
            ChildOp open = program.Ops[w.OpenIndex];
            open.Flags.ShouldBe(OpFlags.SaveResult, open.ToString());
            open.IntArg(0).ShouldBe(AT_FDCWD);
            (open.IntArg(2) & O_WRONLY).ShouldBe(O_WRONLY);
            program.Ops[w.WriteIndex].Flags.ShouldBe(OpFlags.Arg0FromSaved, program.Ops[w.WriteIndex].ToString());
            program.Ops[w.WriteIndex].IntArg(2).ShouldBe(Encoding.ASCII.GetByteCount(w.Text));
            program.Ops[w.WriteIndex + 1].Is(SyscallNumber.Close).ShouldBeTrue();
            program.Ops[w.WriteIndex + 1].Flags.ShouldBe(OpFlags.Arg0FromSaved);
        }
    }

    [Fact]
    public void IdMaps_AreWritten_BeforeAnyMountOrFileCreation()
    {
        // With an unmapped fsuid, creating an inode fails with EOVERFLOW, and mounts would be made
        // with capabilities over ids that do not exist yet.
        ChildProgram program = Build(Spec(new MountSpec(MountKind.Tmpfs, "/home"), new MountSpec(MountKind.Bind, "/home/x", "/host/src")));
        int gidMapClose = PlanQueries.ProcFileWrites(program).Single(w => w.Path == "/proc/self/gid_map").WriteIndex + 1;

        int firstFsChange = program.IndexOf(op => op.Is(SyscallNumber.Mount) || op.Is(SyscallNumber.Mkdirat) || op.Is(SyscallNumber.Symlinkat)
                                                  || op.Is(SyscallNumber.Openat) && op.Args[1] is OpArg.Str { Value: var path } && !path.StartsWith("/proc/self/"),
            "mount or file creation");
        gidMapClose.ShouldBeLessThan(firstFsChange);
    }

    // ---- mounts: propagation, rootfs, locked flags ------------------------------------------------------

    [Fact]
    public void MountPropagationIsMadePrivate_BeforeAnyOtherMount()
    {
        // With shared propagation (systemd's default), every mount below would appear in the host's namespace.
        ChildProgram program = Build(Spec(new MountSpec(MountKind.Bind, "/work", "/host/src")));
        ChildOp first = program.Ops[program.IndexOf(op => op.Is(SyscallNumber.Mount), "mount")];

        first.Step.ShouldBe(SetupStep.MakeMountsPrivate);
        first.IntArg(0).ShouldBe(0);
        first.StrArg(1).ShouldBe("/");
        first.IntArg(2).ShouldBe(0);
        first.IntArg(3).ShouldBe((long)(MS_REC | MS_PRIVATE));
    }

    [Theory]
    [InlineData(0UL, MS_STRICTATIME)] // neither noatime nor relatime in statvfs: the mount is strictatime
    [InlineData(ST_RELATIME, MS_RELATIME)]
    [InlineData(ST_NOATIME, MS_NOATIME)]
    [InlineData(ST_NOSUID | ST_NODEV | ST_RELATIME, MS_RELATIME)]
    [InlineData(ST_NOEXEC | ST_RELATIME, MS_NOEXEC | MS_RELATIME)]
    [InlineData(ST_NODIRATIME | ST_RELATIME, MS_NODIRATIME | MS_RELATIME)]
    [InlineData(ST_NOATIME | ST_NODIRATIME, MS_NOATIME | MS_NODIRATIME)]
    [InlineData(ST_RDONLY | ST_NOSUID | ST_NODEV | ST_NOEXEC | ST_NOATIME, MS_NOEXEC | MS_NOATIME)]
    public void RootfsIsBoundThenRemountedReadOnly_KeepingLockedFlags(ulong stFlags, ulong expectedBeyondReadOnlyNosuidNodev)
    {
        // In a new user namespace the kernel locks ro, nosuid, nodev, noexec and the atime mode of every
        // inherited mount; a remount that would clear one fails with EPERM (fs/namespace.c can_change_locked_flags).
        ulong expected = MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | expectedBeyondReadOnlyNosuidNodev;
        SetupPlan.RemountFlags(stFlags, readOnly: true).ShouldBe(expected);

        var host = FakeHost.Typical().AddMount(Root, stFlags);
        ChildProgram program = Build(Spec(), host);
        int bind = program.IndexOf(op => op.IsMount(source: Root, target: Root), "bind of the rootfs onto itself");
        program.Ops[bind].IntArg(3).ShouldBe((long)(MS_BIND | MS_REC));
        ChildOp remount = program.Ops[bind + 1];
        remount.IsRemountOf(Root).ShouldBeTrue($"the rootfs bind must be followed by its remount:\n{program}");
        remount.Step.ShouldBe(SetupStep.RemountReadOnly);
        remount.IntArg(3).ShouldBe((long)expected);
    }

    [Fact]
    public void RemountFlags_ForEveryStatvfsCombination_KeepEachLockedFlag_AndExactlyOneAtimeMode()
    {
        ulong[] stBits = [ST_RDONLY, ST_NOSUID, ST_NODEV, ST_NOEXEC, ST_NOATIME, ST_NODIRATIME, ST_RELATIME];
        for (int combo = 0; combo < 1 << stBits.Length; combo++)
        {
            ulong st = stBits.Where((_, i) => (combo & (1 << i)) != 0).Aggregate(0UL, (a, b) => a | b);
            foreach (bool readOnly in new[] { true, false })
            {
                ulong flags = SetupPlan.RemountFlags(st, readOnly);
                string what = $"statvfs 0x{st:x}, readOnly {readOnly}: flags 0x{flags:x}";

                (flags & (MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NODEV)).ShouldBe(MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NODEV, what);
                ((flags & MS_RDONLY) != 0).ShouldBe(readOnly || (st & ST_RDONLY) != 0, what);
                ((flags & MS_NOEXEC) != 0).ShouldBe((st & ST_NOEXEC) != 0, what);
                ((flags & MS_NODIRATIME) != 0).ShouldBe((st & ST_NODIRATIME) != 0, what);
                new[] { MS_NOATIME, MS_RELATIME, MS_STRICTATIME }.Count(m => (flags & m) != 0).ShouldBe(1, what);
                if ((st & ST_NOATIME) != 0) (flags & MS_NOATIME).ShouldBe(MS_NOATIME, what);
                else if ((st & ST_RELATIME) != 0) (flags & MS_RELATIME).ShouldBe(MS_RELATIME, what);
                else (flags & MS_STRICTATIME).ShouldBe(MS_STRICTATIME, what); // no atime flag in statvfs means strictatime
            }
        }
    }

    [Fact]
    public void ReadOnlyBind_IsRemountedReadOnly_WithItsSourcesLockedFlags()
    {
        // /data is mounted nosuid,nodev,noexec,noatime on the host (FakeHost.Typical).
        ChildProgram program = Build(Spec(new MountSpec(MountKind.ReadOnlyBind, "/var/cache", "/data/cache")));
        string target = Root + "/var/cache";

        int bind = program.IndexOf(op => op.IsMount(source: "/data/cache", target: target), "the --ro-bind");
        program.Ops[bind].IntArg(3).ShouldBe((long)(MS_BIND | MS_REC));
        ChildOp remount = program.Ops[bind + 1];
        remount.IsRemountOf(target).ShouldBeTrue($"the bind must be followed by its remount:\n{program}");
        remount.Step.ShouldBe(SetupStep.RemountReadOnly);
        remount.IntArg(3).ShouldBe((long)(MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME));
    }

    [Fact]
    public void WritableBind_IsRemountedNosuidNodev_NotReadOnly()
    {
        // Writable, but a setuid binary or device node the payload drops in it must not work.
        ChildProgram program = Build(Spec(new MountSpec(MountKind.Bind, "/work", "/host/src")));
        string target = Root + "/work";

        int bind = program.IndexOf(op => op.IsMount(source: "/host/src", target: target), "the --bind");
        ChildOp remount = program.Ops[bind + 1];
        remount.IsRemountOf(target).ShouldBeTrue($"the bind must be followed by its remount:\n{program}");
        remount.IntArg(3).ShouldBe((long)(MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NODEV | MS_RELATIME));
    }

    [Fact]
    public void WritableBind_OfAReadOnlyHostMount_StaysReadOnly_BecauseTheKernelLocksRo()
    {
        var host = FakeHost.Typical().AddMount("/data", ST_RDONLY | ST_RELATIME);
        ChildProgram program = Build(Spec(new MountSpec(MountKind.Bind, "/var/cache", "/data/cache")), host);

        ChildOp remount = program.Ops.Single(op => op.IsRemountOf(Root + "/var/cache"));
        (remount.IntArg(3) & (long)MS_RDONLY).ShouldBe((long)MS_RDONLY);
    }

    // ---- /proc, /dev, pivot_root --------------------------------------------------------------------------

    [Fact]
    public void ProcIsMounted_InsideTheNewRoot_BeforePivotRoot()
    {
        // After the rootfs bind (else the bind would hide it) and before pivot_root (after it, the host path
        // means nothing). Mounted by init, which is inside the new pid namespace, so it shows only the sandbox.
        ChildProgram program = Build(Spec());
        int bindRoot = program.IndexOf(op => op.IsMount(source: Root, target: Root), "rootfs bind");
        int proc = program.IndexOf(op => op.IsMount(source: "proc", target: Root + "/proc"), "proc mount");
        int pivot = program.IndexOf(op => op.Is(SyscallNumber.PivotRoot), "pivot_root");

        program.Ops[proc].StrArg(2).ShouldBe("proc");
        program.Ops[proc].IntArg(3).ShouldBe((long)(MS_NOSUID | MS_NODEV | MS_NOEXEC));
        proc.ShouldBeGreaterThan(bindRoot);
        proc.ShouldBeLessThan(pivot);
        proc.ShouldBeLessThan(program.SpawnIndex());
    }

    [Fact]
    public void PivotRoot_ChdirsIntoTheRoot_PivotsDotOntoDot_DetachesTheOldRoot_ThenChdirsToSlash()
    {
        ChildProgram program = Build(Spec());
        int start = program.IndexOf(op => op.Is(SyscallNumber.Chdir) && op.StrArg(0) == Root, "chdir into the rootfs");

        program.Ops.Skip(start).Take(4).Select(PlanQueries.Signature).ShouldBe(
        [
            $"Chdir(\"{Root}\")",
            "PivotRoot(\".\", \".\")",
            $"Umount2(\".\", {MNT_DETACH})",
            "Chdir(\"/\")",
        ]);
        program.Ops.Skip(start).Take(4).ShouldAllBe(op => op.Step == SetupStep.PivotRoot);
    }

    [Fact]
    public void NoHostPath_IsUsedAfterPivotRoot()
    {
        // After the old root is detached every host path is gone; a mount planned after it would fail or,
        // worse, resolve inside the sandbox's own tree.
        ChildProgram program = Build(Spec(new MountSpec(MountKind.Bind, "/work", "/host/src"), new MountSpec(MountKind.Tmpfs, "/home")));
        int detach = program.IndexOf(op => op.Is(SyscallNumber.Umount2), "umount2");

        foreach (ChildOp op in program.Ops.Skip(detach + 1))
            op.Args.OfType<OpArg.Str>().ShouldAllBe(s => !s.Value.StartsWith(Root) && !s.Value.StartsWith("/host/"), op.ToString());
        program.Ops.Take(detach).Count(op => op.Is(SyscallNumber.Mount)).ShouldBe(program.Ops.Count(op => op.Is(SyscallNumber.Mount)));
    }

    [Fact]
    public void Dev_EachDeviceIsAnEmptyFileCreatedExclusively_ThenBoundFromTheHost_AndDevEndsReadOnly()
    {
        // mknod is refused in a user namespace, so devices are bind mounts of the host's nodes onto files
        // created with O_EXCL|O_NOFOLLOW (never through something already there).
        ChildProgram program = Build(Spec());
        string dev = Root + "/dev";
        int tmpfs = program.IndexOf(op => op.IsMount(source: "tmpfs", target: dev), "tmpfs on /dev");

        SetupPlan.Devices.ShouldBe(["null", "zero", "full", "random", "urandom", "tty"], ignoreOrder: true);
        foreach (string name in SetupPlan.Devices)
        {
            string target = $"{dev}/{name}";
            int create = program.IndexOf(op => op.Is(SyscallNumber.Openat) && op.StrArg(1) == target, $"create {target}");
            ChildOp open = program.Ops[create];
            open.IntArg(0).ShouldBe(AT_FDCWD);
            (open.IntArg(2) & (O_CREAT | O_EXCL | O_NOFOLLOW)).ShouldBe(O_CREAT | O_EXCL | O_NOFOLLOW, open.ToString());
            open.Flags.ShouldBe(OpFlags.SaveResult);
            program.Ops[create + 1].Is(SyscallNumber.Close).ShouldBeTrue($"the created file's fd is closed:\n{program}");
            program.Ops[create + 1].Flags.ShouldBe(OpFlags.Arg0FromSaved);

            int bind = program.IndexOf(op => op.IsMount(source: $"/dev/{name}", target: target), $"bind of /dev/{name}");
            (program.Ops[bind].IntArg(3) & (long)MS_BIND).ShouldBe((long)MS_BIND);
            create.ShouldBeGreaterThan(tmpfs);
            bind.ShouldBeGreaterThan(create);
        }

        int remount = program.LastIndexOf(op => op.IsRemountOf(dev), "remount of /dev");
        (program.Ops[remount].IntArg(3) & (long)(MS_BIND | MS_REMOUNT | MS_RDONLY)).ShouldBe((long)(MS_BIND | MS_REMOUNT | MS_RDONLY));
        int lastInsideDev = program.LastIndexOf(op => op.Args.OfType<OpArg.Str>().Any(s => s.Value.StartsWith(dev + "/")), "op inside /dev");
        remount.ShouldBeGreaterThan(lastInsideDev, $"/dev goes read-only only after everything in it is made:\n{program}");
        program.Ops.ShouldNotContain(op => op.Is(SyscallNumber.Mknodat));
    }

    // ---- network --------------------------------------------------------------------------------------------

    [Fact]
    public void NetworkNone_UnsharesNetAndBringsLoopbackUp()
    {
        ChildProgram program = Build(Spec() with { Network = NetworkMode.None });

        (program.CloneFlags & CLONE_NEWNET).ShouldBe(CLONE_NEWNET);
        int socket = program.IndexOf(op => op.Is(SyscallNumber.Socket), "socket");
        program.Ops.Skip(socket).Take(3).Select(op => op.Number).ShouldBe(
            [(long)SyscallNumber.Socket, (long)SyscallNumber.Ioctl, (long)SyscallNumber.Close]);
        ChildOp sock = program.Ops[socket], ioctl = program.Ops[socket + 1], close = program.Ops[socket + 2];

        sock.IntArg(0).ShouldBe(AF_INET);
        sock.IntArg(1).ShouldBe(SOCK_DGRAM | SOCK_CLOEXEC);
        sock.Flags.ShouldBe(OpFlags.SaveResult);
        ioctl.Flags.ShouldBe(OpFlags.Arg0FromSaved);
        ioctl.IntArg(1).ShouldBe((long)SIOCSIFFLAGS);
        byte[] ifreq = ioctl.BytesArg(2);
        ifreq.Length.ShouldBeGreaterThanOrEqualTo(40); // sizeof(struct ifreq) on x86-64
        Encoding.ASCII.GetString(ifreq, 0, 3).ShouldBe("lo\0");
        (BinaryPrimitives.ReadInt16LittleEndian(ifreq.AsSpan(16)) & IFF_UP).ShouldBe(IFF_UP);
        close.Flags.ShouldBe(OpFlags.Arg0FromSaved);
        socket.ShouldBeLessThan(program.SpawnIndex());
    }

    [Fact]
    public void NetworkHost_KeepsTheHostNetworkNamespace()
    {
        ChildProgram program = Build(Spec() with { Network = NetworkMode.Host });

        (program.CloneFlags & CLONE_NEWNET).ShouldBe(0UL);
        program.Ops.ShouldNotContain(op => op.Is(SyscallNumber.Socket) || op.Is(SyscallNumber.Ioctl) || op.Step == SetupStep.LoopbackUp);
    }

    [Fact]
    public void CloneFlags_IncludeUserMountPidIpcUtsCgroup_AndPidfd()
    {
        ChildProgram program = Build(Spec());

        foreach (ulong flag in new[] { CLONE_NEWUSER, CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWIPC, CLONE_NEWUTS, CLONE_NEWCGROUP, CLONE_PIDFD })
            (program.CloneFlags & flag).ShouldBe(flag, $"clone flags 0x{program.CloneFlags:x} lack 0x{flag:x}");
        (program.CloneFlags & 0xff).ShouldBe((ulong)SIGCHLD, "the exit signal, so the launcher can wait for init");
        // Fork semantics: sharing memory or pausing the parent thread would tie the child to the .NET runtime.
        (program.CloneFlags & (CLONE_VM | CLONE_VFORK)).ShouldBe(0UL);
    }

    // ---- payload side: privileges ----------------------------------------------------------------------------

    [Fact]
    public void PayloadSide_DropsEveryPrivilege_ThenSeccomp_ThenOnlyUnblocksAndExecs()
    {
        var host = FakeHost.Typical();
        host.LastCapability = 40;
        byte[] filter = [0x06, 0, 0, 0, 0, 0, 0xff, 0x7f]; // BPF_RET|BPF_K SECCOMP_RET_ALLOW
        ChildProgram program = Build(Spec() with { WorkingDirectory = "/work", SeccompFilter = filter }, host);

        program.Ops.Count(op => op.Number == ChildOp.SpawnPayload).ShouldBe(1);
        var payload = program.Ops.Skip(program.SpawnIndex() + 1).ToList();
        var expected = new List<string>
        {
            "Setsid()",
            "Chdir(\"/work\")",
            $"Prctl({PR_SET_SECUREBITS}, {SecureBitsLocked}, 0, 0, 0)",
        };
        expected.AddRange(Enumerable.Range(0, 41).Select(cap => $"Prctl({PR_CAPBSET_DROP}, {cap}, 0, 0, 0)"));
        expected.Add($"Prctl({PR_CAP_AMBIENT}, {PR_CAP_AMBIENT_CLEAR_ALL}, 0, 0, 0)");
        expected.Add("Capset(<8 bytes>, <24 bytes>)");
        expected.Add($"Prctl({PR_SET_NO_NEW_PRIVS}, 1, 0, 0, 0)");
        expected.Add($"Seccomp({SECCOMP_SET_MODE_FILTER}, 0, <bpf 1>)");
        expected.Add("RtSigprocmask(2, <8 bytes>, 0, 8)");
        expected.Add("Execve(\"/usr/bin/true\", [\"/usr/bin/true\"], [])");
        payload.Select(PlanQueries.Signature).ShouldBe(expected);

        ChildOp capset = payload.Single(op => op.Is(SyscallNumber.Capset));
        BinaryPrimitives.ReadUInt32LittleEndian(capset.BytesArg(0)).ShouldBe(LINUX_CAPABILITY_VERSION_3);
        BinaryPrimitives.ReadInt32LittleEndian(capset.BytesArg(0).AsSpan(4)).ShouldBe(0, "pid 0: this thread");
        capset.BytesArg(1).ShouldAllBe(b => b == 0, "effective, permitted and inheritable all empty, both 32-bit halves");
        payload.Single(op => op.Is(SyscallNumber.Seccomp)).Args[2].ShouldBeOfType<OpArg.FilterProgram>().Instructions.ShouldBe(filter);
    }

    [Fact]
    public void PayloadSide_DropsTheBoundingSetUpToTheHostsLastCapability()
    {
        // A capability the kernel knows but we skip stays in the bounding set, regained through a file capability.
        var host = FakeHost.Typical();
        host.LastCapability = 63;
        ChildProgram program = Build(Spec(), host);

        program.Ops.Where(op => op.Is(SyscallNumber.Prctl) && op.IntArg(0) == PR_CAPBSET_DROP).Select(op => op.IntArg(1))
            .ShouldBe(Enumerable.Range(0, 64).Select(c => (long)c));
    }

    [Fact]
    public void NothingPrivileged_AfterCapset_AndSeccompComesAfterCapsetAndNoNewPrivs()
    {
        // seccomp without CAP_SYS_ADMIN needs no_new_privs; after capset only NNP, the filter, the mask and
        // execve remain; an op after the filter must be one the filter allows.
        ChildProgram program = Build(Spec() with { Command = ["sh", "-c", "true"] });
        int capset = program.IndexOf(op => op.Is(SyscallNumber.Capset), "capset");
        int nnp = program.IndexOf(op => op.Is(SyscallNumber.Prctl) && op.IntArg(0) == PR_SET_NO_NEW_PRIVS, "PR_SET_NO_NEW_PRIVS");
        int seccomp = program.IndexOf(op => op.Is(SyscallNumber.Seccomp), "seccomp");

        capset.ShouldBeGreaterThan(program.SpawnIndex());
        seccomp.ShouldBeGreaterThan(capset);
        seccomp.ShouldBeGreaterThan(nnp);
        nnp.ShouldBeGreaterThan(capset);
        program.Ops.Skip(capset + 1).ShouldAllBe(op =>
            op.Is(SyscallNumber.Prctl) && op.IntArg(0) == PR_SET_NO_NEW_PRIVS
            || op.Is(SyscallNumber.Seccomp) || op.Is(SyscallNumber.RtSigprocmask) || op.Is(SyscallNumber.Execve));
        program.Ops.Skip(seccomp + 1).ShouldAllBe(op => op.Is(SyscallNumber.RtSigprocmask) || op.Is(SyscallNumber.Execve));
        program.Ops.Count(op => op.Is(SyscallNumber.Seccomp)).ShouldBe(1);
    }

    [Fact]
    public void NoSetupStep_IgnoresItsFailure_ExceptThePathSearchsEarlierExecs()
    {
        // A hardening step that failed silently would run the payload less confined than it claims.
        ChildProgram program = Build(Spec(new MountSpec(MountKind.Tmpfs, "/home")) with { Command = ["sh"] });
        int lastExec = program.LastIndexOf(op => op.Is(SyscallNumber.Execve), "execve");

        program.Ops.Where((op, i) => (op.Flags & OpFlags.IgnoreError) != 0 && !(op.Is(SyscallNumber.Execve) && i < lastExec))
            .ShouldBeEmpty();
        program.Ops[lastExec].Flags.ShouldBe(OpFlags.None);
        lastExec.ShouldBe(program.Ops.Count - 1, "the op list ends in execve");
    }

    // ---- signals and fds ------------------------------------------------------------------------------------

    [Fact]
    public void Signals_EveryHandlerButSigkillAndSigstopIsReset_InInit()
    {
        // Handlers inherited from .NET point into runtime code that does not exist in the child; an ignored
        // SIGPIPE would survive execve into the payload.
        ChildProgram program = Build(Spec());
        int spawn = program.SpawnIndex();
        var resets = program.Ops.Take(spawn).Where(op => op.Is(SyscallNumber.RtSigaction)).ToList();

        resets.Select(op => op.IntArg(0)).ShouldBe(Enumerable.Range(1, 64).Where(s => s is not (SIGKILL or SIGSTOP)).Select(s => (long)s), ignoreOrder: true);
        foreach (ChildOp op in resets)
        {
            op.BytesArg(1).Length.ShouldBe(32, "struct kernel_sigaction on x86-64");
            op.BytesArg(1).ShouldAllBe(b => b == 0, "SIG_DFL, no flags, empty mask");
            op.IntArg(3).ShouldBe(8, "sizeof(kernel sigset_t)");
            op.Flags.ShouldBe(OpFlags.None);
        }
    }

    [Fact]
    public void Signals_StayBlocked_UntilJustBeforeExecve()
    {
        // The trampoline clones with every signal blocked; unblocking earlier would let one hit a stale handler.
        ChildProgram program = Build(Spec());
        int unblock = program.IndexOf(op => op.Is(SyscallNumber.RtSigprocmask), "rt_sigprocmask");

        program.Ops.Count(op => op.Is(SyscallNumber.RtSigprocmask)).ShouldBe(1);
        program.Ops[unblock + 1].Is(SyscallNumber.Execve).ShouldBeTrue();
        program.Ops[unblock].IntArg(0).ShouldBe(2, "SIG_SETMASK");
        program.Ops[unblock].BytesArg(1).ShouldBe(new byte[8]);
    }

    [Fact]
    public void StatusPipe_IsMovedToFd3_AndEveryOtherInheritedFdClosed_BeforeAnyMount_CVE_2024_21626()
    {
        // runc CVE-2024-21626: a leaked host directory fd became the payload's cwd. The launcher's fds (above 2)
        // are closed before anything else touches the filesystem, except the status pipe, moved to 3.
        ChildProgram program = Build(Spec(new MountSpec(MountKind.Bind, "/work", "/host/src")));
        int dup3 = program.IndexOf(op => op.Is(SyscallNumber.Dup3), "dup3");
        int closeRange = program.IndexOf(op => op.Is(SyscallNumber.CloseRange), "close_range");
        int firstPathOp = program.IndexOf(op => op.Args.Any(a => a is OpArg.Str), "first op with a path");

        program.Ops[dup3].Args.ShouldBe([new OpArg.Int(StatusWriteFd), new OpArg.Int(MarshalledProgram.StatusFd), new OpArg.Int(O_CLOEXEC)]);
        MarshalledProgram.StatusFd.ShouldBe(3);
        program.Ops[closeRange].IntArg(0).ShouldBe(MarshalledProgram.StatusFd + 1);
        program.Ops[closeRange].IntArg(1).ShouldBe(uint.MaxValue);
        program.Ops[closeRange].IntArg(2).ShouldBe(0, "close, not CLOSE_RANGE_CLOEXEC: the fds must be gone before the mounts");
        dup3.ShouldBeLessThan(closeRange);
        closeRange.ShouldBeLessThan(firstPathOp);
        closeRange.ShouldBeLessThan(program.IndexOf(op => op.Is(SyscallNumber.Mount), "mount"));
    }

    [Fact]
    public void StartedRecord_IsWrittenAfterPdeathsig_AndAfterClosingInheritedFds_SoADeadLauncherGivesEpipe()
    {
        // EPIPE needs every read end closed, including the child's own inherited copy (closed by close_range).
        ChildProgram program = Build(Spec());
        int pdeathsig = program.IndexOf(op => op.Is(SyscallNumber.Prctl) && op.IntArg(0) == PR_SET_PDEATHSIG, "PR_SET_PDEATHSIG");
        int closeRange = program.IndexOf(op => op.Is(SyscallNumber.CloseRange), "close_range");
        int started = program.IndexOf(op => op.Is(SyscallNumber.Write) && op.Flags == OpFlags.None, "write of the STARTED record");

        program.Ops[pdeathsig].IntArg(1).ShouldBe(SIGKILL);
        program.Ops[started].IntArg(0).ShouldBe(MarshalledProgram.StatusFd);
        program.Ops[started].BytesArg(1).ShouldBe(new byte[16], "kind 0 STARTED, index 0, value 0");
        started.ShouldBeGreaterThan(pdeathsig);
        started.ShouldBeGreaterThan(closeRange);
    }

    // ---- refused specs: each names the offending path ----------------------------------------------------

    [Theory]
    [InlineData("/opt", "/opt/data")] // a symlink on the way to the mount point
    [InlineData("/opt", "/opt")]      // the mount point itself is a symlink
    public void MountDestinationThroughSymlink_IsRefused(string symlinkInRoot, string destination)
    {
        // Mounting follows symlinks: a link planted in the root (/opt -> /) would put the mount, and a
        // writable bind of host data, wherever the link points.
        var host = FakeHost.Typical().AddSymlink(Root + symlinkInRoot, "/");

        var e = Refused(Spec(new MountSpec(MountKind.Bind, destination, "/host/src")), host);

        e.Message.ShouldContain(destination);
        e.Message.ShouldContain($"symlink ({Root}{symlinkInRoot})");
    }

    [Fact]
    public void MountDestinationThroughSymlinkInsideAnEarlierBind_IsRefused_TheReviewedRepoPlantsTheLink()
    {
        // The repo bound at /work is attacker-controlled: /work/cache -> / must not carry the next mount out.
        var host = FakeHost.Typical().AddSymlink("/host/src/cache", "/");

        var e = Refused(Spec(new MountSpec(MountKind.Bind, "/work", "/host/src"), new MountSpec(MountKind.Tmpfs, "/work/cache")), host);

        e.Message.ShouldContain("/work/cache");
        e.Message.ShouldContain("symlink (/host/src/cache)");
    }

    [Fact]
    public void SandboxOwnMountPoint_ThroughSymlinkInTheRootfs_IsRefused()
    {
        var host = FakeHost.Typical().AddSymlink(Root + "/tmp", "/var/tmp");

        var e = Refused(Spec(), host);

        e.Message.ShouldContain("/tmp");
        e.Message.ShouldContain("symlink");
    }

    [Fact]
    public void MissingMountPoint_IsRefused_WithMessageNamingPathAndWhy()
    {
        var e = Refused(Spec(new MountSpec(MountKind.Bind, "/nonexistent/dir", "/host/src")));

        e.Message.ShouldContain("/nonexistent/dir");
        e.Message.ShouldContain("does not exist");
        e.Message.ShouldContain("read-only"); // why it cannot simply be created
        e.Message.ShouldContain("--tmpfs");   // and the way out
    }

    [Theory]
    [InlineData("/work/../etc")]
    [InlineData("/../etc")]
    [InlineData("/work/./x")]
    [InlineData("work")]
    [InlineData("/")]
    [InlineData("/work//x")]
    [InlineData("/work/")]
    public void DestinationWithDotDot_OrOtherwiseNotNormalised_IsRefused(string destination)
    {
        var e = Refused(Spec(new MountSpec(MountKind.Bind, destination, "/host/src")));

        e.Message.ShouldContain(destination);
        e.Message.ShouldContain("destination");
    }

    [Theory]
    [InlineData("/proc")]
    [InlineData("/proc/sys")]
    [InlineData("/proc/self/ns")]
    [InlineData("/dev")]
    [InlineData("/dev/shm")]
    public void DestinationInsideProcOrDev_IsRefused(string destination)
    {
        // Mounting over /proc/sys etc. could unmask what /proc shows; /dev is the sandbox's own minimal tree.
        var e = Refused(Spec(new MountSpec(MountKind.Bind, destination, "/host/src")));

        e.Message.ShouldContain(destination);
    }

    [Fact]
    public void DestinationMerelyPrefixedByProc_IsNotMistakenForProc()
    {
        var host = FakeHost.Typical().AddDirectory(Root + "/procedures");

        ChildProgram program = Build(Spec(new MountSpec(MountKind.Bind, "/procedures", "/host/src")), host);

        program.Ops.ShouldContain(op => op.IsMount("/host/src", Root + "/procedures"));
    }

    [Fact]
    public void FileOntoDirectory_IsRefused()
    {
        var e = Refused(Spec(new MountSpec(MountKind.ReadOnlyBind, "/etc", "/host/cfg.toml")));

        e.Message.ShouldContain("a file on the directory /etc");
    }

    [Fact]
    public void DirectoryOntoFile_IsRefused()
    {
        var e = Refused(Spec(new MountSpec(MountKind.Bind, "/etc/passwd", "/host/src")));

        e.Message.ShouldContain("a directory on the file /etc/passwd");
    }

    [Fact]
    public void MountPointBelowAFile_IsRefused()
    {
        var e = Refused(Spec(new MountSpec(MountKind.Bind, "/etc/passwd/x", "/host/src")));

        e.Message.ShouldContain($"{Root}/etc/passwd is not a directory");
    }

    [Fact]
    public void HostRootAsRootfs_IsRefused()
    {
        // The payload would see, and through a writable bind reach, the whole host.
        var e = Refused(Spec() with { RootFs = "/" });

        e.Message.ShouldContain("--rootfs /");
    }

    [Theory]
    [InlineData("srv/rootfs")]
    [InlineData("/srv/../srv/rootfs")]
    [InlineData("/srv/./rootfs")]
    [InlineData("/srv/rootfs/")]
    public void RelativeRootfs_OrNotNormalised_IsRefused(string rootfs)
    {
        var e = Refused(Spec() with { RootFs = rootfs });

        e.Message.ShouldContain($"--rootfs {rootfs}");
    }

    [Fact]
    public void RootfsThatIsASymlink_IsRefused()
    {
        var host = FakeHost.Typical().AddSymlink("/srv/link", Root);

        var e = Refused(Spec() with { RootFs = "/srv/link" }, host);

        e.Message.ShouldContain("/srv/link");
        e.Message.ShouldContain("symlink");
    }

    [Fact]
    public void MissingRootfs_IsRefused()
    {
        var e = Refused(Spec() with { RootFs = "/srv/nope" });

        e.Message.ShouldContain("/srv/nope");
        e.Message.ShouldContain("does not exist");
    }

    [Fact]
    public void MissingBindSource_IsRefused()
    {
        var e = Refused(Spec(new MountSpec(MountKind.Bind, "/work", "/host/nope")));

        e.Message.ShouldContain("/host/nope");
        e.Message.ShouldContain("does not exist");
    }

    [Fact]
    public void RelativeBindSource_IsRefused()
    {
        // Relative to whatever the child's cwd is at mount time: not what the user meant.
        var e = Refused(Spec(new MountSpec(MountKind.Bind, "/work", "host/src")));

        e.Message.ShouldContain("host/src");
        e.Message.ShouldContain("absolute");
    }

    [Fact]
    public void BindSourceThroughASymlink_IsResolvedOnTheHost_AndAccepted()
    {
        // Sources are the user's own host paths; following their symlinks is what the user asked for.
        var host = FakeHost.Typical().AddSymlink("/home/me/project", "/host/src");

        ChildProgram program = Build(Spec(new MountSpec(MountKind.Bind, "/work", "/home/me/project")), host);

        program.Ops.ShouldContain(op => op.IsMount("/home/me/project", Root + "/work"));
    }

    // ---- mount points under a tmpfs, order, nesting -------------------------------------------------------

    [Fact]
    public void MountUnderTmpfs_CreatesItsMountPointInTheChild()
    {
        // The root is read-only, but a --tmpfs is empty and writable: mount points under it are made in the
        // child, after the tmpfs and before the mount; a parent shared by two mounts is made once.
        ChildProgram program = Build(Spec(
            new MountSpec(MountKind.Tmpfs, "/home"),
            new MountSpec(MountKind.Bind, "/home/user/src", "/host/src"),
            new MountSpec(MountKind.ReadOnlyBind, "/home/user/cfg.toml", "/host/cfg.toml")));
        string home = Root + "/home";
        int tmpfs = program.IndexOf(op => op.IsMount("tmpfs", home), "tmpfs on /home");
        int bindSrc = program.IndexOf(op => op.IsMount("/host/src", home + "/user/src"), "bind of /host/src");
        int bindCfg = program.IndexOf(op => op.IsMount("/host/cfg.toml", home + "/user/cfg.toml"), "bind of /host/cfg.toml");

        program.Ops.Skip(tmpfs + 1).Take(bindSrc - tmpfs - 1).Select(PlanQueries.Signature).ShouldBe(
        [
            $"Mkdirat({AT_FDCWD}, \"{home}/user\", {0x1ed})",
            $"Mkdirat({AT_FDCWD}, \"{home}/user/src\", {0x1ed})",
        ]);
        // A bind is three ops: the bind, its remount and the recursive mount_setattr.
        var createCfg = program.Ops.Skip(bindSrc + 3).Take(bindCfg - bindSrc - 3).ToList();
        createCfg.Select(PlanQueries.Signature).ShouldBe(
        [
            $"Openat({AT_FDCWD}, \"{home}/user/cfg.toml\", {O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC}, {0x1a4})",
            "Close(0)",
        ]);
        createCfg[0].Flags.ShouldBe(OpFlags.SaveResult);
        createCfg[1].Flags.ShouldBe(OpFlags.Arg0FromSaved);
        program.Ops.Count(op => op.Is(SyscallNumber.Mkdirat) && op.StrArg(1) == home + "/user").ShouldBe(1);
    }

    [Fact]
    public void ReadOnlyBinds_AreMadeReadOnlyRecursively_SoMountsNestedInTheSourceAreToo()
    {
        // MS_REC brings nested mounts along and a remount only changes the top one; mount_setattr with
        // AT_RECURSIVE covers the subtree.
        ChildProgram program = Build(Spec(new MountSpec(MountKind.ReadOnlyBind, "/opt", "/host/src")));
        foreach (string target in new[] { Root, Root + "/opt" })
        {
            ChildOp setattr = program.Ops.Single(op => op.Is(SyscallNumber.MountSetattr) && op.StrArg(1) == target);
            ((OpArg.Int)setattr.Args[2]).Value.ShouldBe(AT_RECURSIVE);
            var attr = ((OpArg.Bytes)setattr.Args[3]).Value;
            BitConverter.ToUInt64(attr, 0).ShouldBe(MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
            BitConverter.ToUInt64(attr, 8).ShouldBe(0UL, "nothing may be cleared: locked flags stay");
            int remount = program.IndexOf(op => op.Is(SyscallNumber.Mount) && op.StrArg(1) == target && op.Args[0] is OpArg.Int, "the remount");
            program.Ops.ToList().IndexOf(setattr).ShouldBe(remount + 1);
        }
    }

    [Fact]
    public void MountUnderTheSandboxTmp_CreatesItsMountPoint()
    {
        ChildProgram program = Build(Spec(new MountSpec(MountKind.Bind, "/tmp/src", "/host/src")));

        int mkdir = program.IndexOf(op => op.Is(SyscallNumber.Mkdirat) && op.StrArg(1) == Root + "/tmp/src", "mkdir /tmp/src");
        mkdir.ShouldBeGreaterThan(program.IndexOf(op => op.IsMount("tmpfs", Root + "/tmp"), "tmpfs on /tmp"));
        mkdir.ShouldBeLessThan(program.IndexOf(op => op.IsMount("/host/src", Root + "/tmp/src"), "the bind"));
    }

    [Fact]
    public void MountUnderTmpfs_IgnoresWhatTheRootHasBeneathIt()
    {
        // The tmpfs hides the root's /home: a symlink there is harmless and is not what the check looks at.
        var host = FakeHost.Typical().AddSymlink(Root + "/home/user", "/");

        ChildProgram program = Build(Spec(new MountSpec(MountKind.Tmpfs, "/home"), new MountSpec(MountKind.Bind, "/home/user", "/host/src")), host);

        program.Ops.ShouldContain(op => op.Is(SyscallNumber.Mkdirat) && op.StrArg(1) == Root + "/home/user");
    }

    [Fact]
    public void Mounts_AreAppliedInCommandLineOrder()
    {
        // Later mounts may nest in earlier ones; reordering would hide a mount under its parent.
        MountSpec[] mounts =
        [
            new(MountKind.ReadOnlyBind, "/var/cache", "/data/cache"),
            new(MountKind.Bind, "/work", "/host/src"),
            new(MountKind.Tmpfs, "/work/lib"),
            new(MountKind.Tmpfs, "/opt"),
        ];
        string[] targets = mounts.Select(m => Root + m.Destination).ToArray();

        ChildProgram program = Build(Spec(mounts));

        program.Ops.Where(op => op.Is(SyscallNumber.Mount) && op.Args[0] is OpArg.Str && targets.Contains(op.StrArg(1)))
            .Select(op => op.StrArg(1)).ShouldBe(targets);
        ChildProgram reversed = Build(Spec(mounts.Reverse().Where(m => m.Destination != "/work/lib").ToArray()));
        reversed.Ops.Where(op => op.Is(SyscallNumber.Mount) && op.Args[0] is OpArg.Str && targets.Contains(op.StrArg(1)))
            .Select(op => op.StrArg(1)).ShouldBe([Root + "/opt", Root + "/work", Root + "/var/cache"]);
    }

    [Fact]
    public void MountNestedInABind_IsCheckedAgainstTheBindSource_NotTheRootBeneath()
    {
        // After --bind /host/src /work, the path /work/x is /host/src/x: that is what must exist.
        var host = FakeHost.Typical().AddDirectory(Root + "/work/only-in-root");

        Build(Spec(new MountSpec(MountKind.Bind, "/work", "/host/src"), new MountSpec(MountKind.Tmpfs, "/work/lib")), host)
            .Ops.ShouldContain(op => op.IsMount("tmpfs", Root + "/work/lib"));
        var e = Refused(Spec(new MountSpec(MountKind.Bind, "/work", "/host/src"), new MountSpec(MountKind.Tmpfs, "/work/only-in-root")), host);
        e.Message.ShouldContain("/work/only-in-root");
        e.Message.ShouldContain("/host/src/only-in-root");
    }

    [Fact]
    public void MountNestedInAFileBind_IsRefused()
    {
        var e = Refused(Spec(
            new MountSpec(MountKind.ReadOnlyBind, "/etc/resolv.conf", "/host/cfg.toml"),
            new MountSpec(MountKind.Tmpfs, "/etc/resolv.conf/x")));

        e.Message.ShouldContain("/etc/resolv.conf/x");
    }

    // ---- exec -------------------------------------------------------------------------------------------

    [Fact]
    public void ExecWithoutSlash_TriesEachPathEntry_OnlyLastFailureReported()
    {
        // Like execvp: an ENOENT in /usr/local/bin is no failure, but the last attempt's error is the answer.
        var env = new[] { KeyValuePair.Create("PATH", "/usr/local/bin:/usr/bin:/bin"), KeyValuePair.Create("HOME", "/home/user") };
        ChildProgram program = Build(Spec() with { Command = ["python3", "-c", "print(1)"], Environment = env });
        var execs = program.Ops.Where(op => op.Is(SyscallNumber.Execve)).ToList();

        execs.Select(op => op.StrArg(0)).ShouldBe(["/usr/local/bin/python3", "/usr/bin/python3", "/bin/python3"]);
        execs.Select(op => op.Flags).ShouldBe([OpFlags.IgnoreError, OpFlags.IgnoreError, OpFlags.None]);
        foreach (ChildOp exec in execs)
        {
            exec.StrArrayArg(1).ShouldBe(["python3", "-c", "print(1)"], "argv is the command as given, argv[0] included");
            exec.StrArrayArg(2).ShouldBe(["PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/home/user"]);
        }
        program.Ops.TakeLast(3).ShouldBe(execs);
    }

    [Fact]
    public void ExecWithoutSlash_AndNoPath_UsesTheDefaultPath()
    {
        ChildProgram program = Build(Spec() with { Command = ["sh"] });

        program.Ops.Where(op => op.Is(SyscallNumber.Execve)).Select(op => op.StrArg(0))
            .ShouldBe(["/usr/local/bin/sh", "/usr/bin/sh", "/bin/sh"]);
    }

    [Fact]
    public void RelativePathEntries_AreSkipped_SoTheReviewedCodeCannotShadowACommand()
    {
        // "." or "bin" in PATH would resolve against the working directory, which the reviewed repo fills.
        var env = new[] { KeyValuePair.Create("PATH", ".:bin::/usr/bin:/opt/tools/") };

        ChildProgram program = Build(Spec() with { Command = ["git"], Environment = env });

        program.Ops.Where(op => op.Is(SyscallNumber.Execve)).Select(op => op.StrArg(0)).ShouldBe(["/usr/bin/git", "/opt/tools/git"]);
    }

    [Fact]
    public void AbsoluteCommand_IsASingleExecve_WithEmptyEnvironment()
    {
        // Nothing is inherited from the launcher's environment (tokens, proxies): envp is the spec's, here empty.
        ChildProgram program = Build(Spec() with { Command = ["/usr/bin/env", "-0"] });

        ChildOp exec = program.Ops.Single(op => op.Is(SyscallNumber.Execve));
        exec.StrArg(0).ShouldBe("/usr/bin/env");
        exec.Flags.ShouldBe(OpFlags.None);
        exec.StrArrayArg(1).ShouldBe(["/usr/bin/env", "-0"]);
        exec.StrArrayArg(2).ShouldBeEmpty();
    }

    // ---- misc ------------------------------------------------------------------------------------------

    [Fact]
    public void Hostname_IsSetWithItsUtf8ByteLength()
    {
        ChildProgram program = Build(Spec() with { Hostname = "révïew" });

        int index = program.IndexOf(op => op.Is(SyscallNumber.Sethostname), "sethostname");
        program.Ops.Count(op => op.Is(SyscallNumber.Sethostname)).ShouldBe(1);
        program.Ops[index].StrArg(0).ShouldBe("révïew");
        program.Ops[index].IntArg(1).ShouldBe(8); // 6 characters, 8 bytes
        index.ShouldBeLessThan(program.SpawnIndex(), "CAP_SYS_ADMIN is gone in the payload");
    }

    [Fact]
    public void ChildProgram_ToString_RendersCloneFlagsAndOneNumberedLinePerOp()
    {
        ChildProgram program = Build(Spec());

        string[] lines = program.ToString().Split('\n');
        lines.Length.ShouldBe(program.Ops.Count + 1);
        lines[0].ShouldStartWith("clone(0x");
        lines[1].TrimStart().ShouldStartWith("0:");
        lines[^1].ShouldContain("execve");
        lines.ShouldContain(l => l.Contains("PivotRoot"));
        lines.ShouldContain(l => l.Contains("spawn-payload"));
    }
}

/// <summary>Reading a <see cref="ChildProgram"/> in tests: typed arguments, positions, a compact signature.</summary>
internal static class PlanQueries
{
    public static bool Is(this ChildOp op, SyscallNumber nr) => op.Number == (long)nr;

    public static long IntArg(this ChildOp op, int i) => op.Args[i].ShouldBeOfType<OpArg.Int>($"arg {i} of {op}").Value;

    public static string StrArg(this ChildOp op, int i) => op.Args[i].ShouldBeOfType<OpArg.Str>($"arg {i} of {op}").Value;

    public static byte[] BytesArg(this ChildOp op, int i) => op.Args[i].ShouldBeOfType<OpArg.Bytes>($"arg {i} of {op}").Value;

    public static IReadOnlyList<string> StrArrayArg(this ChildOp op, int i) => op.Args[i].ShouldBeOfType<OpArg.StrArray>($"arg {i} of {op}").Value;

    /// <summary>mount(source, target, ...) with both given as strings.</summary>
    public static bool IsMount(this ChildOp op, string source, string target) =>
        op.Is(SyscallNumber.Mount) && op.Args[0] is OpArg.Str s && s.Value == source && op.Args[1] is OpArg.Str t && t.Value == target;

    /// <summary>mount(NULL, target, NULL, MS_REMOUNT|..., NULL).</summary>
    public static bool IsRemountOf(this ChildOp op, string target) =>
        op.Is(SyscallNumber.Mount) && op.Args[0] is OpArg.Int { Value: 0 } && op.Args[1] is OpArg.Str t && t.Value == target
        && op.Args[3] is OpArg.Int f && (f.Value & (long)LinuxConstants.MS_REMOUNT) != 0;

    /// <summary>"Name(arg, ...)" with the SyscallNumber name, without step, detail or flags: independent of ChildOp's own rendering.</summary>
    public static string Signature(ChildOp op) =>
        $"{(op.Number == ChildOp.SpawnPayload ? "SpawnPayload" : ((SyscallNumber)op.Number).ToString())}({string.Join(", ", op.Args.Select(Render))})";

    private static string Render(OpArg arg) => arg switch
    {
        OpArg.Int i => i.Value.ToString(System.Globalization.CultureInfo.InvariantCulture),
        OpArg.Str s => $"\"{s.Value}\"",
        OpArg.Bytes b => $"<{b.Value.Length} bytes>",
        OpArg.StrArray a => $"[{string.Join(", ", a.Value.Select(v => $"\"{v}\""))}]",
        OpArg.FilterProgram f => $"<bpf {f.Instructions.Length / 8}>",
        _ => arg.ToString(),
    };

    public static int IndexOf(this ChildProgram program, Func<ChildOp, bool> match, string what)
    {
        for (int i = 0; i < program.Ops.Count; i++)
            if (match(program.Ops[i]))
                return i;
        throw new ShouldAssertException($"no {what} in the program:\n{program}");
    }

    public static int LastIndexOf(this ChildProgram program, Func<ChildOp, bool> match, string what)
    {
        for (int i = program.Ops.Count - 1; i >= 0; i--)
            if (match(program.Ops[i]))
                return i;
        throw new ShouldAssertException($"no {what} in the program:\n{program}");
    }

    public static int SpawnIndex(this ChildProgram program) =>
        program.IndexOf(op => op.Number == ChildOp.SpawnPayload, "spawn-payload marker");

    /// <summary>Each openat of a /proc/self file followed by its write: the path, the text written, and where.</summary>
    public static List<(string Path, string Text, int OpenIndex, int WriteIndex)> ProcFileWrites(ChildProgram program)
    {
        var writes = new List<(string, string, int, int)>();
        for (int i = 0; i + 1 < program.Ops.Count; i++)
        {
            ChildOp op = program.Ops[i];
            if (!op.Is(SyscallNumber.Openat) || op.Args[1] is not OpArg.Str { Value: var path } || !path.StartsWith("/proc/self/"))
                continue;
            ChildOp write = program.Ops[i + 1];
            write.Is(SyscallNumber.Write).ShouldBeTrue($"openat {path} is followed by its write:\n{program}");
            writes.Add((path, Encoding.ASCII.GetString(write.BytesArg(1)), i, i + 1));
        }
        return writes;
    }
}
