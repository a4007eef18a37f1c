using System.Runtime.InteropServices;
using AutoReview.Sandbox.Interop;
using AutoReview.Sandbox.Seccomp;
using static AutoReview.Sandbox.Interop.LinuxConstants;

namespace AutoReview.Sandbox.Diagnostics;

/// <summary>One line of the doctor's report. Required checks are the ones a sandbox launch needs.</summary>
public sealed record DoctorCheck(string Name, bool Required, bool Ok, string Detail, string? Errno = null, string? Cause = null, string? Fix = null);

public sealed record DoctorReport(string Kernel, int Uid, HostFacts Facts, IReadOnlyList<DoctorCheck> Checks)
{
    public bool Ok => Checks.Where(c => c.Required).All(c => c.Ok);
}

/// <summary>
/// The isolation posture of this machine, found by trying each step for real in a throwaway child
/// (the same trampoline and ops the launcher uses), not by guessing from sysctls. The sysctls and
/// /proc facts are read too, to explain a failure.
/// </summary>
public static class Doctor
{
    public static DoctorReport Run()
    {
        HostFacts facts = HostFacts.Read();
        var host = LinuxHostView.Instance;
        IEnumerable<ChildOp> Map() => ChildOps.MapIds(0, host.Uid, 0, host.Gid);
        IEnumerable<ChildOp> Private() => [ChildOps.Op(SetupStep.MakeMountsPrivate, "/", SyscallNumber.Mount, 0L, "/", 0L, (long)(MS_REC | MS_PRIVATE), 0L)];
        // A tmpfs over /tmp in the throwaway mount namespace gives a place to mount proc; the host never sees it.
        IEnumerable<ChildOp> ScratchTmpfs() =>
            [ChildOps.Op(SetupStep.MountTmpfs, "/tmp", SyscallNumber.Mount, "tmpfs", "/tmp", "tmpfs", (long)(MS_NOSUID | MS_NODEV), 0L)];

        var checks = new List<DoctorCheck>
        {
            Try("user-namespace", "create a user namespace and map the invoking user", facts, CLONE_NEWUSER, Map()),
            Try("mount-namespace", "mount a tmpfs in a private mount namespace", facts, CLONE_NEWUSER | CLONE_NEWNS, [.. Map(), .. Private(), .. ScratchTmpfs()]),
            Try("pid-namespace+proc", "mount a fresh /proc in a new pid namespace", facts, CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID,
                [.. Map(), .. Private(), .. ScratchTmpfs(),
                 ChildOps.Op(SetupStep.MountProc, "mkdir /tmp/proc", SyscallNumber.Mkdirat, AT_FDCWD, "/tmp/proc", 0x1ed),
                 ChildOps.Op(SetupStep.MountProc, "/tmp/proc", SyscallNumber.Mount, "proc", "/tmp/proc", "proc", (long)(MS_NOSUID | MS_NODEV | MS_NOEXEC), 0L)]),
            Try("network-namespace", "bring up loopback in a new network namespace", facts, CLONE_NEWUSER | CLONE_NEWNET, [.. Map(), .. ChildOps.LoopbackUp()]),
            Try("ipc-namespace", "create an ipc namespace", facts, CLONE_NEWUSER | CLONE_NEWIPC, Map()),
            Try("uts-namespace", "set a hostname in a new uts namespace", facts, CLONE_NEWUSER | CLONE_NEWUTS,
                [.. Map(), ChildOps.Op(SetupStep.SetHostname, "doctor", SyscallNumber.Sethostname, "doctor", 6L)]),
            Try("cgroup-namespace", "create a cgroup namespace", facts, CLONE_NEWUSER | CLONE_NEWCGROUP, Map()),
            Try("seccomp", "install the sandbox's seccomp filter", facts, 0,
                [ChildOps.Op(SetupStep.NoNewPrivileges, "PR_SET_NO_NEW_PRIVS", SyscallNumber.Prctl, PR_SET_NO_NEW_PRIVS, 1L, 0L, 0L, 0L),
                 ChildOps.Op(SetupStep.InstallSeccomp, "default policy", SyscallNumber.Seccomp, SECCOMP_SET_MODE_FILTER, 0L,
                     new OpArg.FilterProgram(Bpf.ToBytes(SeccompPolicy.Assemble())))]),
            Landlock(),
            CgroupDelegation(),
        };
        return new DoctorReport(ReadTrimmed("/proc/sys/kernel/osrelease") ?? "unknown", (int)host.Uid, facts, checks);
    }

    private static DoctorCheck Try(string name, string what, HostFacts facts, ulong namespaces, IEnumerable<ChildOp> steps)
    {
        Launcher.Outcome outcome = Launcher.Execute(writeFd => new ChildProgram(
            namespaces | CLONE_PIDFD | SIGCHLD,
            [.. ChildOps.PrepareChild(writeFd), .. steps, ChildOps.Op(SetupStep.PrepareChild, "done", SyscallNumber.ExitGroup, 0L)]),
            forwardSignals: false);
        if (outcome.FailedStep is not { } step)
            return new DoctorCheck(name, Required: true, Ok: true, $"works: {what}");
        Diagnosis diagnosis = Diagnosis.Explain(step, outcome.Errno, facts);
        return new DoctorCheck(name, Required: true, Ok: false, $"cannot {what}: {outcome.FailedDetail}",
            Interop.Errno.Name(outcome.Errno), diagnosis.Cause, diagnosis.Fix);
    }

    private static DoctorCheck Landlock()
    {
        // landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION) returns the ABI version.
        long abi = RawSyscall.Invoke(SyscallNumber.LandlockCreateRuleset, 0, 0, 1);
        if (abi > 0)
            return new DoctorCheck("landlock", Required: false, Ok: true, $"available, ABI version {abi} (not used by the sandbox yet)");
        int errno = Marshal.GetLastPInvokeError();
        return new DoctorCheck("landlock", Required: false, Ok: false, "unavailable", Interop.Errno.Name(errno),
            errno == Interop.Errno.EOPNOTSUPP ? "the kernel has Landlock but it is disabled (lsm= boot parameter)" : "the kernel has no Landlock",
            "not needed: the sandbox relies on namespaces, a read-only root and seccomp");
    }

    private static DoctorCheck CgroupDelegation()
    {
        string? line = File.Exists("/proc/self/cgroup") ? File.ReadLines("/proc/self/cgroup").FirstOrDefault(l => l.StartsWith("0::", StringComparison.Ordinal)) : null;
        if (line is null)
            return new DoctorCheck("cgroup-delegation", Required: false, Ok: false, "no cgroup v2 hierarchy for this process",
                Cause: "cgroups v1 only, or /proc/self/cgroup unreadable", Fix: "not needed: the sandbox sets no resource limits yet");
        string dir = "/sys/fs/cgroup" + line[3..];
        string controllers = ReadTrimmed(Path.Combine(dir, "cgroup.controllers")) ?? "";
        bool writable = FileInterop.IsWritable(Path.Combine(dir, "cgroup.procs"));
        return writable
            ? new DoctorCheck("cgroup-delegation", Required: false, Ok: true, $"delegated: {dir} (controllers: {(controllers.Length > 0 ? controllers : "none")})")
            : new DoctorCheck("cgroup-delegation", Required: false, Ok: false, $"not delegated: {dir} is not writable by this user",
                Cause: "no systemd user delegation for this session", Fix: "not needed: the sandbox sets no resource limits yet");
    }

    private static string? ReadTrimmed(string path)
    {
        try { return File.ReadAllText(path).Trim(); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
    }
}
