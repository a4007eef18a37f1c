using System.Text;
using AutoReview.Sandbox.Interop;

namespace AutoReview.Sandbox.Diagnostics;

/// <summary>
/// Why a sandbox setup step most likely failed on this machine, and what a person can do about it.
/// Setup fails closed; this turns "EPERM" into a cause and a fix, the diagnostic that users of bubblewrap,
/// sandbox-runtime and Codex have asked for again and again.
/// </summary>
public sealed record Diagnosis(string Cause, string Fix)
{
    private const string Doctor = "run `auto-review doctor` for the isolation posture of this machine";

    private const string AppArmorProfile = """
        abi <abi/4.0>,
        include <tunables/global>

        profile auto-review /path/to/auto-review flags=(unconfined) {
          userns,
        }
        """;

    private const string AppArmorFix =
        "grant auto-review `userns` with an AppArmor profile: save the following as /etc/apparmor.d/auto-review, "
        + "with the real path of the auto-review binary in place of /path/to/auto-review, then run "
        + "`sudo apparmor_parser -r /etc/apparmor.d/auto-review`:\n"
        + AppArmorProfile
        + "\nOr lift the restriction for every program: `sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0`.";

    /// <summary>The most likely cause of <paramref name="step"/> failing with <paramref name="errno"/>.</summary>
    public static Diagnosis Explain(SetupStep step, int errno, HostFacts facts) =>
        step switch
        {
            SetupStep.CreateNamespaces => ExplainCreateNamespaces(errno, facts),
            SetupStep.MountProc when errno == Errno.EPERM && facts.ProcIsMasked => MaskedProc(facts),
            SetupStep.RemountReadOnly when errno == Errno.EPERM => new(
                "a read-only remount dropped a flag the kernel locked when the mount entered the user namespace "
                + "(nosuid, nodev, noexec or an atime flag); that is a launcher bug",
                "report it to the auto-review maintainers with this message and the output of "
                + "`findmnt -o TARGET,FSTYPE,OPTIONS`"),
            SetupStep.Exec => ExplainExec(errno),
            SetupStep.InstallSeccomp when errno is Errno.EINVAL or Errno.EFAULT => NoSeccompFilter(facts),
            SetupStep.NoNewPrivileges when errno == Errno.EINVAL => new(
                "the kernel does not know PR_SET_NO_NEW_PRIVS (added in Linux 3.5)",
                "use Linux 3.5 or later; without no_new_privs a setuid program in the sandbox could gain "
                + "privileges, so auto-review will not run without it"),
            _ when NeedsCapabilityInNamespace(step) && (errno is Errno.EPERM or Errno.EACCES)
                && AppArmorRestricts(facts) => new(
                "the namespace was created but AppArmor denied capabilities inside it "
                + "(kernel.apparmor_restrict_unprivileged_userns=1, as on Ubuntu 23.10 and later)",
                AppArmorFix),
            SetupStep.MountProc when errno == Errno.EPERM => new(
                "the kernel refused a fresh proc mount, though /proc here is not masked; another proc mount in "
                + "this mount namespace may be partly hidden, or a security module denied it",
                "look for mounts over proc with `findmnt -t proc` and for denials in the kernel log "
                + "(`journalctl -k` or `dmesg`)"),
            _ when MountsAPath(step) => ExplainMountPath(errno),
            _ => null,
        } ?? Fallback(step, errno, facts);

    /// <summary>
    /// The full message for a person at a terminal: what failed and where, the errno, cause, fix, and the
    /// assurance that nothing ran unsandboxed.
    /// </summary>
    public static string Format(SetupStep step, string detail, int errno, HostFacts facts)
    {
        var diagnosis = Explain(step, errno, facts);
        var where = string.IsNullOrEmpty(detail) ? "" : $" ({detail})";
        return new StringBuilder()
            .Append($"sandbox setup failed: {Describe(step)}{where}: {Errno.Describe(errno)}\n")
            .Append($"  cause: {Indent(diagnosis.Cause)}\n")
            .Append($"  fix: {Indent(diagnosis.Fix)}\n")
            .Append("  auto-review did not run anything unsandboxed. (--bare runs without isolation, and says so.)")
            .ToString();
    }

    /// <summary>The step as a phrase that completes "sandbox setup failed: …".</summary>
    public static string Describe(SetupStep step) => step switch
    {
        SetupStep.CreateNamespaces => "creating the namespaces (clone with CLONE_NEWUSER)",
        SetupStep.PrepareChild => "preparing the child process",
        SetupStep.DenySetgroups => "writing \"deny\" to /proc/self/setgroups",
        SetupStep.WriteUidMap => "writing /proc/self/uid_map",
        SetupStep.WriteGidMap => "writing /proc/self/gid_map",
        SetupStep.MakeMountsPrivate => "making the mount tree private",
        SetupStep.BindMount => "bind-mounting",
        SetupStep.RemountReadOnly => "remounting read-only",
        SetupStep.MountTmpfs => "mounting a tmpfs",
        SetupStep.MountProc => "mounting /proc",
        SetupStep.MountDev => "setting up /dev",
        SetupStep.LoopbackUp => "bringing up the loopback interface",
        SetupStep.PivotRoot => "switching to the new root (pivot_root)",
        SetupStep.SetHostname => "setting the hostname",
        SetupStep.SpawnPayload => "spawning the command under the sandbox's init",
        SetupStep.ChangeDirectory => "changing to the working directory",
        SetupStep.DropCapabilities => "dropping capabilities",
        SetupStep.NoNewPrivileges => "setting no_new_privs",
        SetupStep.InstallSeccomp => "installing the seccomp filter",
        SetupStep.Exec => "executing the command",
        // Only reachable through a cast; a message must still come out.
        _ => step.ToString(),
    };

    private static Diagnosis? ExplainCreateNamespaces(int errno, HostFacts facts) => errno switch
    {
        Errno.ENOSPC when facts.MaxUserNamespaces == 0 => new(
            "user namespaces are disabled: user.max_user_namespaces is 0",
            "`sudo sysctl -w user.max_user_namespaces=15000` (persist it with a file in /etc/sysctl.d/)"),
        Errno.ENOSPC => new(
            "the per-user namespace limit is exhausted"
            + (facts.MaxUserNamespaces is int limit ? $" (user.max_user_namespaces is {limit})" : "")
            + ": some other program holds many namespaces",
            "find the holders with `sudo lsns -t user` and stop the one leaking them, or raise the limit: "
            + $"`sudo sysctl -w user.max_user_namespaces={RaisedLimit(facts.MaxUserNamespaces)}` "
            + "(persist it with a file in /etc/sysctl.d/)"),
        Errno.EPERM when facts.UnprivilegedUsernsClone == 0 => new(
            "unprivileged user namespaces are disabled by Debian's kernel.unprivileged_userns_clone=0",
            "`sudo sysctl -w kernel.unprivileged_userns_clone=1` (persist it with a file in /etc/sysctl.d/)"),
        Errno.EPERM when facts.SeccompMode == 2 => new(
            "this process already runs under a seccomp filter that refuses namespace creation, typically "
            + "a container's default profile (Docker's blocks clone and unshare with CLONE_NEWUSER)"
            + InContainer(facts),
            "run the container with `--security-opt seccomp=unconfined` (or a profile that allows clone, clone3 "
            + "and unshare with namespace flags), or run auto-review outside the container. "
            + "`--bare` would skip isolation entirely: an explicit, unsafe opt-out for code you trust."),
        Errno.EPERM when AppArmorRestricts(facts) => new(
            "Ubuntu's AppArmor restriction on unprivileged user namespaces "
            + "(kernel.apparmor_restrict_unprivileged_userns=1) refused it; usually it lets creation succeed and "
            + "denies capabilities later, but some kernels refuse at creation",
            AppArmorFix),
        Errno.EPERM => new(
            "the kernel or a security module (SELinux, AppArmor, a seccomp filter) refused to create the "
            + "namespaces" + InContainer(facts),
            "look for denials in the kernel or audit log (`journalctl -k`, `ausearch -m avc`), and " + Doctor),
        Errno.EINVAL => new(
            "the kernel rejected the namespace flags: it was built without user namespace support "
            + "(CONFIG_USER_NS) or without one of the other namespace types",
            "`ls /proc/self/ns` must list user, mnt, pid, ipc, uts and net; if one is missing, use a kernel "
            + "built with it (CONFIG_USER_NS=y and friends), and if none is, report this as a launcher bug"),
        Errno.ENOMEM => new(
            "the kernel could not allocate memory for the new process or its namespaces: memory is exhausted, "
            + "or capped by the cgroup or container auto-review runs in",
            "free memory, or raise the memory limit of that cgroup or container (`--memory` for Docker)"),
        Errno.EAGAIN => new(
            "a process limit is reached: this user's RLIMIT_NPROC (`ulimit -u`) or the cgroup's pids.max",
            "stop stray processes, or raise the limit: `ulimit -u`, `--pids-limit` for a container, "
            + "TasksMax= for a systemd unit"),
        _ => null,
    };

    private static Diagnosis MaskedProc(HostFacts facts) => new(
        $"/proc is masked ({facts.ProcSubmounts.Count} paths mounted over it, e.g. {facts.ProcSubmounts[0]}), as "
        + "container runtimes do; the kernel refuses a fresh proc mount while any proc mount is partly hidden",
        "for Docker, run the container with `--security-opt systempaths=unconfined`; for Podman, with "
        + "`--security-opt unmask=ALL`; or run auto-review on the host");

    private static Diagnosis? ExplainExec(int errno) => errno switch
    {
        Errno.ENOENT => new(
            "the command, its ELF interpreter (e.g. /lib64/ld-linux-x86-64.so.2) or its #! interpreter "
            + "does not exist inside the sandbox's root",
            "add the command and what it needs to the rootfs (`ldd` lists its loader and libraries), "
            + "or name it by its path inside the sandbox"),
        Errno.EACCES => new(
            "the command is not executable: it lacks execute permission, or lies on a mount with noexec",
            "make it executable in the rootfs (`chmod +x`), or run it from a mount without noexec"),
        Errno.ENOEXEC => new(
            "the file is not in an executable format: a script without a #! line (there is no shell inside the "
            + "sandbox to run it), or a binary for another architecture",
            "start the script with a #! line naming an interpreter inside the sandbox, or run the interpreter "
            + "with the script as its argument"),
        _ => null,
    };

    private static Diagnosis? ExplainMountPath(int errno) => errno switch
    {
        Errno.ENOENT => new(
            "a path of the mount does not exist: the source on the host, or the destination inside the "
            + "sandbox's root",
            "create the missing path, or correct the --bind or --ro-bind argument that names it"),
        Errno.ENOTDIR or Errno.EISDIR => new(
            "the mount's source and destination differ in kind: one is a file and the other a directory "
            + "(or a component of the path is a file)",
            "bind a file onto a file and a directory onto a directory"),
        _ => null,
    };

    private static Diagnosis NoSeccompFilter(HostFacts facts) => facts.SeccompMode is null
        ? new(
            "this kernel has no seccomp (/proc/self/status has no Seccomp: line)",
            "use a kernel built with CONFIG_SECCOMP=y and CONFIG_SECCOMP_FILTER=y; auto-review does not run "
            + "code without its syscall filter")
        : new(
            "the kernel rejected the seccomp filter: it lacks filter support (CONFIG_SECCOMP_FILTER), "
            + "or the filter is malformed, which would be a launcher bug",
            "check `grep SECCOMP_FILTER /boot/config-$(uname -r)`; without it, use a kernel built with "
            + "CONFIG_SECCOMP_FILTER=y, and with it, report this as a launcher bug");

    private static Diagnosis Fallback(SetupStep step, int errno, HostFacts facts) => new(
        $"{Describe(step)} failed with {Errno.Name(errno)}, for which auto-review knows no specific cause"
        + InContainer(facts),
        Doctor);

    /// <summary>Steps that need a capability inside the new user namespace, which AppArmor can withhold.</summary>
    private static bool NeedsCapabilityInNamespace(SetupStep step) => step is SetupStep.DenySetgroups
        or SetupStep.WriteUidMap or SetupStep.WriteGidMap or SetupStep.MakeMountsPrivate or SetupStep.BindMount
        or SetupStep.MountTmpfs or SetupStep.MountProc or SetupStep.MountDev or SetupStep.LoopbackUp
        or SetupStep.PivotRoot or SetupStep.SetHostname;

    private static bool MountsAPath(SetupStep step) => step is SetupStep.BindMount or SetupStep.RemountReadOnly
        or SetupStep.MountTmpfs or SetupStep.MountProc or SetupStep.MountDev or SetupStep.PivotRoot;

    /// <summary>
    /// The restriction applies only to callers without CAP_SYS_ADMIN, so it does not explain root's failures.
    /// </summary>
    private static bool AppArmorRestricts(HostFacts facts) =>
        facts.AppArmorRestrictUnprivilegedUserns == 1 && facts.Uid != 0;

    private static long RaisedLimit(int? current) => Math.Max(15000L, 2L * (current ?? 0));

    private static string InContainer(HostFacts facts) =>
        facts.ContainerHint is { } runtime ? $"; this process seems to run in a {runtime} container" : "";

    /// <summary>Continuation lines (the AppArmor profile) line up under the "cause:" and "fix:" labels.</summary>
    private static string Indent(string text) =>
        string.Join('\n', text.Split('\n').Select((line, i) => i == 0 || line.Length == 0 ? line : "    " + line));
}
