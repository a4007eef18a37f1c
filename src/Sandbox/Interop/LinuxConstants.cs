namespace AutoReview.Sandbox.Interop;

/// <summary>Kernel ABI constants (x86-64) used by the child-side op list and the parent.</summary>
internal static class LinuxConstants
{
    // clone flags (include/uapi/linux/sched.h)
    public const ulong CLONE_NEWTIME = 0x00000080;
    public const ulong CLONE_VM = 0x00000100;
    public const ulong CLONE_PIDFD = 0x00001000;
    public const ulong CLONE_VFORK = 0x00004000;
    public const ulong CLONE_NEWNS = 0x00020000;
    public const ulong CLONE_NEWCGROUP = 0x02000000;
    public const ulong CLONE_NEWUTS = 0x04000000;
    public const ulong CLONE_NEWIPC = 0x08000000;
    public const ulong CLONE_NEWUSER = 0x10000000;
    public const ulong CLONE_NEWPID = 0x20000000;
    public const ulong CLONE_NEWNET = 0x40000000;
    public const ulong NamespaceFlags =
        CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWTIME;

    // signals
    public const int SIGHUP = 1, SIGINT = 2, SIGQUIT = 3, SIGKILL = 9, SIGTERM = 15, SIGCHLD = 17, SIGSTOP = 19;
    public const int MaxSignal = 64;

    // mount(2) flags (include/uapi/linux/mount.h)
    public const ulong MS_RDONLY = 1;
    public const ulong MS_NOSUID = 2;
    public const ulong MS_NODEV = 4;
    public const ulong MS_NOEXEC = 8;
    public const ulong MS_REMOUNT = 32;
    public const ulong MS_NOATIME = 1024;
    public const ulong MS_NODIRATIME = 2048;
    public const ulong MS_BIND = 4096;
    public const ulong MS_REC = 16384;
    public const ulong MS_PRIVATE = 1 << 18;
    public const ulong MS_RELATIME = 1 << 21;
    public const ulong MS_STRICTATIME = 1 << 24;
    public const ulong MNT_DETACH = 2;

    // mount_setattr(2): struct mount_attr { u64 attr_set, attr_clr, propagation, userns_fd; }
    public const ulong MOUNT_ATTR_RDONLY = 1, MOUNT_ATTR_NOSUID = 2, MOUNT_ATTR_NODEV = 4;
    public const int MountAttrSize = 32;
    public const int AT_RECURSIVE = 0x8000;

    // statvfs f_flag (ST_*), from which the kernel-locked mount flags are read
    public const ulong ST_RDONLY = 1, ST_NOSUID = 2, ST_NODEV = 4, ST_NOEXEC = 8;
    public const ulong ST_NOATIME = 1024, ST_NODIRATIME = 2048, ST_RELATIME = 4096;

    // open(2), fcntl(2)
    public const int O_WRONLY = 1, O_CREAT = 0x40, O_EXCL = 0x80, O_NOFOLLOW = 0x20000, O_CLOEXEC = 0x80000;
    public const int AT_FDCWD = -100;
    public const int F_DUPFD_CLOEXEC = 1030;

    // prctl(2)
    public const int PR_SET_PDEATHSIG = 1;
    public const int PR_CAPBSET_DROP = 24;
    public const int PR_SET_SECUREBITS = 28;
    public const int PR_SET_NO_NEW_PRIVS = 38;
    public const int PR_CAP_AMBIENT = 47;
    public const int PR_CAP_AMBIENT_CLEAR_ALL = 4;

    /// <summary>
    /// SECBIT_NOROOT, SECBIT_NO_SETUID_FIXUP and SECBIT_NO_CAP_AMBIENT_RAISE, each with its lock, plus
    /// SECBIT_KEEP_CAPS_LOCKED: uid 0 inside never regains capabilities through execve.
    /// </summary>
    public const ulong SecureBitsLocked = 0xEF;

    public const uint LINUX_CAPABILITY_VERSION_3 = 0x20080522;

    // seccomp(2)
    public const int SECCOMP_SET_MODE_FILTER = 1;

    // network: loopback up through SIOCSIFFLAGS on an AF_INET datagram socket
    public const int AF_UNIX = 1, AF_INET = 2, SOCK_STREAM = 1, SOCK_DGRAM = 2, SOCK_SEQPACKET = 5, SOCK_CLOEXEC = 0x80000;
    public const int SOL_SOCKET = 1, SCM_RIGHTS = 1, MSG_CMSG_CLOEXEC = 0x40000000;
    public const ulong SIOCSIFFLAGS = 0x8914;
    public const short IFF_UP = 0x1, IFF_LOOPBACK = 0x8, IFF_RUNNING = 0x40;

    // waitid(2)
    public const int P_PIDFD = 3;
    public const int WEXITED = 4;
    public const int CLD_EXITED = 1, CLD_KILLED = 2, CLD_DUMPED = 3;
}
