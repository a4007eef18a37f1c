namespace AutoReview.Sandbox;

/// <summary>
/// What a step of sandbox setup is for. A failing step is reported by kind, so that the diagnosis can
/// name the likely cause (a sysctl, an LSM, a container's seccomp profile) without parsing messages.
/// </summary>
public enum SetupStep
{
    /// <summary>clone() with CLONE_NEWUSER and the other namespace flags.</summary>
    CreateNamespaces,
    /// <summary>Startup housekeeping in the child: signal dispositions, death signal, fd table.</summary>
    PrepareChild,
    /// <summary>Writing "deny" to /proc/self/setgroups (required before an unprivileged gid_map).</summary>
    DenySetgroups,
    WriteUidMap,
    WriteGidMap,
    /// <summary>Making the whole mount tree private so nothing propagates back to the host.</summary>
    MakeMountsPrivate,
    /// <summary>Bind mounts: the rootfs itself, --bind and --ro-bind.</summary>
    BindMount,
    /// <summary>Read-only remounts (which must keep the flags the kernel locked).</summary>
    RemountReadOnly,
    MountTmpfs,
    MountProc,
    /// <summary>The minimal /dev: tmpfs, device binds, devpts, symlinks.</summary>
    MountDev,
    /// <summary>Bringing up the loopback interface in the new network namespace.</summary>
    LoopbackUp,
    PivotRoot,
    SetHostname,
    /// <summary>Spawning the payload process under the namespace's init.</summary>
    SpawnPayload,
    ChangeDirectory,
    DropCapabilities,
    NoNewPrivileges,
    InstallSeccomp,
    Exec,
}
