using AutoReview.Sandbox.Interop;

namespace AutoReview.Sandbox.Seccomp;

/// <summary>A syscall the sandbox refuses whatever its arguments, and the errno the payload sees instead.</summary>
internal sealed record DeniedSyscall(SyscallNumber Number, string Name, int Errno, string Reason);

/// <summary>
/// The payload's seccomp filter: default-allow, with a deny-list of kernel attack surface still reachable from an
/// unprivileged user namespace and a few argument checks. Namespaces, the read-only root, dropped capabilities and
/// no_new_privs are the primary boundary; this filter narrows what is left. See docs/adr/0003-seccomp-policy.md.
/// </summary>
internal static class SeccompPolicy
{
    /// <summary>x32 syscalls arrive with AUDIT_ARCH_X86_64 and this bit set in nr.</summary>
    public const uint X32SyscallBit = 0x40000000;

    /// <summary>
    /// Every CLONE_NEW* flag but CLONE_NEWTIME (0x80): legacy clone reads that bit as part of the exit signal, and
    /// the kernel refuses NEWTIME there anyway.
    /// </summary>
    public const uint CloneNamespaceFlags = (uint)(LinuxConstants.NamespaceFlags & ~LinuxConstants.CLONE_NEWTIME);

    /// <summary>Pushes bytes into a terminal's input queue: a sandboxed process sharing a tty could type into the host shell.</summary>
    public const uint Tiocsti = 0x5412;

    /// <summary>Virtual-console control, including pasting the selection into the console's input.</summary>
    public const uint Tioclinux = 0x541C;

    /// <summary>personality(PER_LINUX): the default, which everything runs with.</summary>
    public const uint PerLinux = 0;

    /// <summary>personality(0xffffffff) only reports the current persona.</summary>
    public const uint PersonalityQuery = 0xffffffff;

    /// <summary>Syscalls failed outright, in the order the filter tests them.</summary>
    public static IReadOnlyList<DeniedSyscall> Denied { get; } =
    [
        new(SyscallNumber.Clone3, "clone3", Errno.ENOSYS, "Flags live in memory BPF cannot read; ENOSYS makes libc fall back to clone, whose flags are checked."),

        new(SyscallNumber.Mount, "mount", Errno.EPERM, "Mounting from a user namespace reaches filesystem and mount code; the sandbox's mounts are final."),
        new(SyscallNumber.Umount2, "umount2", Errno.EPERM, "Unmounting could uncover what a sandbox mount hides; the mount tree is final."),
        new(SyscallNumber.PivotRoot, "pivot_root", Errno.EPERM, "Swaps the root of the mount namespace; only the launcher needs it, before the filter."),
        new(SyscallNumber.OpenTree, "open_tree", Errno.EPERM, "New mount API: clones mount trees that can be attached elsewhere."),
        new(SyscallNumber.OpenTreeAttr, "open_tree_attr", Errno.EPERM, "New mount API (Linux 6.15): open_tree that also changes mount attributes."),
        new(SyscallNumber.MoveMount, "move_mount", Errno.EPERM, "New mount API: attaches or moves mounts."),
        new(SyscallNumber.Fsopen, "fsopen", Errno.EPERM, "New mount API: creates a filesystem context, exposing filesystem parsers."),
        new(SyscallNumber.Fsconfig, "fsconfig", Errno.EPERM, "New mount API: feeds options to filesystem parsers (the entry point of CVE-2022-0185)."),
        new(SyscallNumber.Fsmount, "fsmount", Errno.EPERM, "New mount API: turns a filesystem context into a mount."),
        new(SyscallNumber.Fspick, "fspick", Errno.EPERM, "New mount API: reconfigures an existing superblock."),
        new(SyscallNumber.MountSetattr, "mount_setattr", Errno.EPERM, "Changes mount attributes (read-only, idmapping, propagation) after setup."),

        new(SyscallNumber.Unshare, "unshare", Errno.EPERM, "Creates namespaces; a nested user namespace hands back a full capability set."),
        new(SyscallNumber.Setns, "setns", Errno.EPERM, "Joins another namespace through a namespace fd or pidfd."),

        new(SyscallNumber.Keyctl, "keyctl", Errno.EPERM, "Kernel keyrings are not fully namespaced and have a long record of exploitable bugs."),
        new(SyscallNumber.AddKey, "add_key", Errno.EPERM, "Kernel keyrings: adds a key."),
        new(SyscallNumber.RequestKey, "request_key", Errno.EPERM, "Kernel keyrings: looks up a key, possibly running a host upcall."),

        new(SyscallNumber.Bpf, "bpf", Errno.EPERM, "eBPF verifier and maps: a large attack surface and a common exploit path."),
        new(SyscallNumber.PerfEventOpen, "perf_event_open", Errno.EPERM, "Performance counters: leak kernel addresses and have a record of exploits."),
        new(SyscallNumber.Userfaultfd, "userfaultfd", Errno.EPERM, "Lets a process stall kernel page faults at will, widening race windows in exploits."),

        new(SyscallNumber.KexecLoad, "kexec_load", Errno.EPERM, "Loads a new kernel."),
        new(SyscallNumber.KexecFileLoad, "kexec_file_load", Errno.EPERM, "Loads a new kernel."),
        new(SyscallNumber.InitModule, "init_module", Errno.EPERM, "Loads a kernel module."),
        new(SyscallNumber.FinitModule, "finit_module", Errno.EPERM, "Loads a kernel module."),
        new(SyscallNumber.DeleteModule, "delete_module", Errno.EPERM, "Unloads a kernel module."),

        new(SyscallNumber.Ptrace, "ptrace", Errno.EPERM, "Controls other processes, and on old kernels rewrites syscalls after seccomp has checked them."),
        new(SyscallNumber.ProcessVmReadv, "process_vm_readv", Errno.EPERM, "Reads another process's memory."),
        new(SyscallNumber.ProcessVmWritev, "process_vm_writev", Errno.EPERM, "Writes another process's memory."),

        new(SyscallNumber.IoUringSetup, "io_uring_setup", Errno.EPERM, "io_uring runs operations seccomp never sees, and is a frequent source of kernel bugs."),
        new(SyscallNumber.IoUringEnter, "io_uring_enter", Errno.EPERM, "io_uring: submits operations that bypass this filter."),
        new(SyscallNumber.IoUringRegister, "io_uring_register", Errno.EPERM, "io_uring: registers buffers and files with a ring."),

        new(SyscallNumber.OpenByHandleAt, "open_by_handle_at", Errno.EPERM, "Opens a file by handle, bypassing the path-based view (the 'shocker' container escape)."),
        new(SyscallNumber.NameToHandleAt, "name_to_handle_at", Errno.EPERM, "Produces file handles for open_by_handle_at."),

        new(SyscallNumber.Swapon, "swapon", Errno.EPERM, "Host swap configuration."),
        new(SyscallNumber.Swapoff, "swapoff", Errno.EPERM, "Host swap configuration."),
        new(SyscallNumber.Reboot, "reboot", Errno.EPERM, "Reboots the host, or kills the sandbox's pid namespace."),
        new(SyscallNumber.Acct, "acct", Errno.EPERM, "Switches process accounting on the host."),
        new(SyscallNumber.Syslog, "syslog", Errno.EPERM, "Reads the kernel log, which leaks kernel addresses."),
        new(SyscallNumber.Chroot, "chroot", Errno.EPERM, "Changes the root directory, a building block of classic chroot escapes."),
        new(SyscallNumber.Quotactl, "quotactl", Errno.EPERM, "Filesystem quota administration."),
        new(SyscallNumber.LookupDcookie, "lookup_dcookie", Errno.EPERM, "Obsolete oprofile interface that resolves kernel path cookies."),
        new(SyscallNumber.Vhangup, "vhangup", Errno.EPERM, "Hangs up the controlling terminal."),
        new(SyscallNumber.Iopl, "iopl", Errno.EPERM, "Raw I/O port access."),
        new(SyscallNumber.Ioperm, "ioperm", Errno.EPERM, "Raw I/O port access."),
        new(SyscallNumber.Uselib, "uselib", Errno.EPERM, "Obsolete a.out library loader with a history of bugs."),
        new(SyscallNumber.Nfsservctl, "nfsservctl", Errno.EPERM, "Obsolete NFS server control, removed from the kernel."),

        new(SyscallNumber.Settimeofday, "settimeofday", Errno.EPERM, "Sets the host clock."),
        new(SyscallNumber.ClockSettime, "clock_settime", Errno.EPERM, "Sets the host clock."),
        new(SyscallNumber.ClockAdjtime, "clock_adjtime", Errno.EPERM, "Adjusts the host clock."),
        new(SyscallNumber.Adjtimex, "adjtimex", Errno.EPERM, "Adjusts the host clock."),

        new(SyscallNumber.Kcmp, "kcmp", Errno.EPERM, "Compares other processes' kernel objects, leaking kernel pointer order."),
        new(SyscallNumber.PidfdGetfd, "pidfd_getfd", Errno.EPERM, "Copies a file descriptor out of another process."),
        new(SyscallNumber.ProcessMadvise, "process_madvise", Errno.EPERM, "Applies memory advice to another process."),
        new(SyscallNumber.Sethostname, "sethostname", Errno.EPERM, "The launcher sets the hostname; the payload has no reason to."),
        new(SyscallNumber.Setdomainname, "setdomainname", Errno.EPERM, "The launcher sets the UTS names; the payload has no reason to."),
    ];

    private const string Kill = "kill";
    private const string Allow = "allow";
    private const string CloneFlags = "clone flags";
    private const string IoctlCommand = "ioctl command";
    private const string PersonalityPersona = "personality persona";

    /// <summary>Assembles the filter. The output depends only on this class, so it is the same on every call.</summary>
    public static IReadOnlyList<SockFilter> Assemble()
    {
        var asm = new BpfAssembler();

        // Syscall numbers mean something else under another ABI (i386 through int 0x80), so the checks below only
        // hold for x86-64; anything else kills the process instead of being allowed by default.
        asm.LoadWord(SeccompData.Arch)
            .JumpIfEqual(AuditArch.X86_64, ifTrue: null, ifFalse: Kill);

        // x32 reuses the x86-64 arch value with bit 30 set in nr, so every number at or above it is x32 or bogus.
        asm.LoadWord(SeccompData.Nr)
            .JumpIfGreaterOrEqual(X32SyscallBit, ifTrue: ErrnoLabel(Errno.EPERM));

        // The order of these equality tests does not matter; the argument-checked ones come first because they are hot.
        asm.JumpIfEqual((uint)SyscallNumber.Clone, ifTrue: CloneFlags)
            .JumpIfEqual((uint)SyscallNumber.Ioctl, ifTrue: IoctlCommand)
            .JumpIfEqual((uint)SyscallNumber.Personality, ifTrue: PersonalityPersona);
        foreach (var denied in Denied)
            asm.JumpIfEqual((uint)denied.Number, ifTrue: ErrnoLabel(denied.Errno));
        asm.Return(SeccompReturn.Allow);

        // Legacy clone only honours the low 32 bits of its flags, so the low word is the whole truth.
        asm.Label(CloneFlags)
            .LoadWord(SeccompData.ArgLow(0))
            .JumpIfAnySet(CloneNamespaceFlags, ifTrue: ErrnoLabel(Errno.EPERM), ifFalse: Allow);

        // The kernel truncates the command to unsigned int; comparing the high word too would let set high bits slip by.
        asm.Label(IoctlCommand)
            .LoadWord(SeccompData.ArgLow(1))
            .JumpIfEqual(Tiocsti, ifTrue: ErrnoLabel(Errno.EPERM))
            .JumpIfEqual(Tioclinux, ifTrue: ErrnoLabel(Errno.EPERM), ifFalse: Allow);

        // personality takes an unsigned int. Anything but the default or a query changes the process, e.g.
        // ADDR_NO_RANDOMIZE switches off ASLR for what it executes next.
        asm.Label(PersonalityPersona)
            .LoadWord(SeccompData.ArgLow(0))
            .JumpIfEqual(PerLinux, ifTrue: Allow)
            .JumpIfEqual(PersonalityQuery, ifTrue: Allow, ifFalse: ErrnoLabel(Errno.EPERM));

        asm.Label(Allow).Return(SeccompReturn.Allow);
        asm.Label(Kill).Return(SeccompReturn.KillProcess);
        foreach (var errno in Denied.Select(d => d.Errno).Prepend(Errno.EPERM).Distinct())
            asm.Label(ErrnoLabel(errno)).Return(SeccompReturn.Errno(errno));

        return asm.Build();
    }

    private static string ErrnoLabel(int errno) => $"errno {errno}";
}
