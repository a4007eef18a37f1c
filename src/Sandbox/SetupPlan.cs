using System.Buffers.Binary;
using System.Text;
using AutoReview.Sandbox.Interop;
using static AutoReview.Sandbox.Interop.LinuxConstants;

namespace AutoReview.Sandbox;

/// <summary>
/// Turns a <see cref="SandboxSpec"/> into the child's op list, in the order the kernel demands.
/// It reads from the host (through <see cref="IHostView"/>) but changes nothing: all checks that can be
/// made before clone are made here, so a bad spec fails with a clear message and no process is created.
/// </summary>
public static class SetupPlan
{
    /// <summary>Devices bound from the host onto empty files in a tmpfs /dev (mknod is refused in a user namespace).</summary>
    public static readonly IReadOnlyList<string> Devices = ["null", "zero", "full", "random", "urandom", "tty"];

    private const string DefaultPath = "/usr/local/bin:/usr/bin:/bin";

    public static ChildProgram Build(SandboxSpec spec, IHostView host, int statusWriteFd, int listenerControlFd = -1)
    {
        if (spec.LoopbackListeners.Count > 0 && spec.Network != NetworkMode.None)
            throw new SandboxException("loopback listeners carried out of the sandbox need --network none (its own network namespace)");
        if (spec.LoopbackListeners.Any(p => p is < 1 or > 65535) || spec.LoopbackListeners.Distinct().Count() != spec.LoopbackListeners.Count)
            throw new SandboxException($"loopback listener ports must be distinct and within 1-65535: {string.Join(", ", spec.LoopbackListeners)}");
        if ((spec.LoopbackListeners.Count > 0) != (listenerControlFd >= 0))
            throw new ArgumentException("a listener control fd is needed exactly when loopback listeners are asked for", nameof(listenerControlFd));
        var b = new Builder(spec, host);
        b.Ops.AddRange(ChildOps.PrepareChild(statusWriteFd, listenerControlFd));
        b.MapIds();
        b.BuildRoot();
        if (spec.Network == NetworkMode.None)
            b.LoopbackUp();
        if (spec.LoopbackListeners.Count > 0)
        {
            foreach (int port in spec.LoopbackListeners)
                b.Ops.AddRange(ChildOps.CarryOutListener(port));
            b.Add(SetupStep.LoopbackUp, "close the listener channel", SyscallNumber.Close, ChildOps.ListenerControlFd);
        }
        b.PivotRoot();
        b.Add(SetupStep.SetHostname, spec.Hostname, SyscallNumber.Sethostname, spec.Hostname, Encoding.UTF8.GetByteCount(spec.Hostname));
        b.Ops.Add(new ChildOp(SetupStep.SpawnPayload, "init vforks the payload", ChildOp.SpawnPayload, []));
        b.HardenPayload();
        b.Exec();

        ulong flags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP
                      | CLONE_PIDFD | SIGCHLD;
        if (spec.Network == NetworkMode.None)
            flags |= CLONE_NEWNET;
        return new ChildProgram(flags, b.Ops);
    }

    /// <summary>
    /// The flags for a read-only bind remount of a mount whose statvfs flags are <paramref name="stFlags"/>.
    /// When a mount is inherited into a new user namespace the kernel locks nosuid, nodev, noexec, ro and
    /// the atime mode; a remount that would clear one fails with EPERM, so each is carried over.
    /// </summary>
    public static ulong RemountFlags(ulong stFlags, bool readOnly)
    {
        ulong flags = MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NODEV;
        if (readOnly || (stFlags & ST_RDONLY) != 0) flags |= MS_RDONLY;
        if ((stFlags & ST_NOEXEC) != 0) flags |= MS_NOEXEC;
        if ((stFlags & ST_NODIRATIME) != 0) flags |= MS_NODIRATIME;
        flags |= (stFlags & ST_NOATIME) != 0 ? MS_NOATIME
               : (stFlags & ST_RELATIME) != 0 ? MS_RELATIME
               : MS_STRICTATIME;
        return flags;
    }

    private sealed class Builder(SandboxSpec spec, IHostView host)
    {
        public readonly List<ChildOp> Ops = [];
        private readonly string _root = CheckRoot(spec.RootFs, host);
        private readonly List<Layer> _layers = [];

        public void Add(SetupStep step, string detail, SyscallNumber nr, params OpArg[] args) =>
            Ops.Add(ChildOps.Op(step, detail, nr, args));

        private void Add(SetupStep step, string detail, OpFlags flags, SyscallNumber nr, params OpArg[] args) =>
            Ops.Add(ChildOps.Op(step, detail, flags, nr, args));

        public void MapIds() => Ops.AddRange(ChildOps.MapIds(spec.Uid, host.Uid, spec.Gid, host.Gid));

        public void BuildRoot()
        {
            // Nothing we mount may propagate back into the host's mount namespace.
            Add(SetupStep.MakeMountsPrivate, "/", SyscallNumber.Mount, 0L, "/", 0L, (long)(MS_REC | MS_PRIVATE), 0L);

            Add(SetupStep.BindMount, $"rootfs {_root}", SyscallNumber.Mount, _root, _root, 0L, (long)(MS_BIND | MS_REC), 0L);
            Add(SetupStep.RemountReadOnly, $"rootfs {_root}", SyscallNumber.Mount, 0L, _root, 0L,
                (long)RemountFlags(host.MountFlags(_root), readOnly: true), 0L);
            SetAttributesRecursively(_root, "rootfs", readOnly: true);
            _layers.Add(new Layer("/", LayerKind.HostTree, _root));

            string proc = MountPoint("/proc", PathKind.Directory, "the proc mount");
            Add(SetupStep.MountProc, "/proc", SyscallNumber.Mount, "proc", proc, "proc", (long)(MS_NOSUID | MS_NODEV | MS_NOEXEC), 0L);
            _layers.Add(new Layer("/proc", LayerKind.Opaque, null, "which the sandbox manages itself"));

            BuildDev();

            string tmp = MountPoint("/tmp", PathKind.Directory, "the /tmp tmpfs");
            Add(SetupStep.MountTmpfs, "/tmp", SyscallNumber.Mount, "tmpfs", tmp, "tmpfs", (long)(MS_NOSUID | MS_NODEV), "mode=1777");
            _layers.Add(new Layer("/tmp", LayerKind.Tmpfs, null));

            foreach (MountSpec mount in spec.Mounts)
                AddUserMount(mount);
        }

        private void BuildDev()
        {
            string dev = MountPoint("/dev", PathKind.Directory, "the minimal /dev");
            Add(SetupStep.MountDev, "tmpfs on /dev", SyscallNumber.Mount, "tmpfs", dev, "tmpfs", (long)(MS_NOSUID | MS_NOEXEC), "mode=0755,size=64k");
            foreach (string name in Devices)
            {
                string target = $"{dev}/{name}";
                Add(SetupStep.MountDev, $"create /dev/{name}", OpFlags.SaveResult, SyscallNumber.Openat, AT_FDCWD, target,
                    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0x1b6 /* 0666 */);
                Add(SetupStep.MountDev, $"close /dev/{name}", OpFlags.Arg0FromSaved, SyscallNumber.Close, 0L);
                Add(SetupStep.MountDev, $"bind /dev/{name}", SyscallNumber.Mount, $"/dev/{name}", target, 0L, (long)MS_BIND, 0L);
            }
            Add(SetupStep.MountDev, "mkdir /dev/shm", SyscallNumber.Mkdirat, AT_FDCWD, $"{dev}/shm", 0x3ff /* 01777 */);
            Add(SetupStep.MountDev, "tmpfs on /dev/shm", SyscallNumber.Mount, "tmpfs", $"{dev}/shm", "tmpfs", (long)(MS_NOSUID | MS_NODEV | MS_NOEXEC), "mode=1777");
            Add(SetupStep.MountDev, "mkdir /dev/pts", SyscallNumber.Mkdirat, AT_FDCWD, $"{dev}/pts", 0x1ed /* 0755 */);
            Add(SetupStep.MountDev, "devpts on /dev/pts", SyscallNumber.Mount, "devpts", $"{dev}/pts", "devpts", (long)(MS_NOSUID | MS_NOEXEC),
                "newinstance,ptmxmode=0666,mode=620");
            foreach ((string link, string target) in new[]
                     {
                         ("ptmx", "pts/ptmx"), ("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2"),
                     })
                Add(SetupStep.MountDev, $"symlink /dev/{link}", SyscallNumber.Symlinkat, target, AT_FDCWD, $"{dev}/{link}");
            // The tmpfs itself goes read-only; /dev/shm and the device binds are separate mounts.
            Add(SetupStep.MountDev, "remount /dev read-only", SyscallNumber.Mount, 0L, dev, 0L,
                (long)(MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NOEXEC), 0L);
            _layers.Add(new Layer("/dev", LayerKind.Opaque, null, "which the sandbox manages itself"));
        }

        private void AddUserMount(MountSpec mount)
        {
            string dst = CheckDestination(mount);
            if (mount.Kind == MountKind.Tmpfs)
            {
                string target = MountPoint(dst, PathKind.Directory, mount.Describe());
                Add(SetupStep.MountTmpfs, dst, SyscallNumber.Mount, "tmpfs", target, "tmpfs", (long)(MS_NOSUID | MS_NODEV), "mode=0755");
                _layers.Add(new Layer(dst, LayerKind.Tmpfs, null));
                return;
            }

            string source = mount.Source ?? throw new SandboxException($"{mount.Describe()}: a bind mount needs a source");
            if (!Path.IsPathFullyQualified(source))
                throw new SandboxException($"{mount.Describe()}: the source must be an absolute path");
            PathKind kind = host.Resolve(source);
            if (kind == PathKind.Missing)
                throw new SandboxException($"{mount.Describe()}: the source {source} does not exist");
            string bindTarget = MountPoint(dst, kind, mount.Describe());
            bool readOnly = mount.Kind == MountKind.ReadOnlyBind;
            Add(SetupStep.BindMount, $"{source} on {dst}", SyscallNumber.Mount, source, bindTarget, 0L, (long)(MS_BIND | MS_REC), 0L);
            Add(readOnly ? SetupStep.RemountReadOnly : SetupStep.BindMount, $"remount {dst}{(readOnly ? " read-only" : "")}",
                SyscallNumber.Mount, 0L, bindTarget, 0L, (long)RemountFlags(host.MountFlags(source), readOnly), 0L);
            SetAttributesRecursively(bindTarget, dst, readOnly);
            _layers.Add(kind == PathKind.Directory
                ? new Layer(dst, LayerKind.HostTree, source)
                : new Layer(dst, LayerKind.Opaque, source, "which is a file"));
        }

        /// <summary>
        /// A bind with MS_REC brings along the mounts nested in its source, and a remount changes only the top
        /// one. mount_setattr with AT_RECURSIVE sets read-only (and nosuid, nodev) on the whole subtree. It only
        /// sets flags, never clears them, so flags the kernel locked are kept.
        /// </summary>
        private void SetAttributesRecursively(string target, string what, bool readOnly)
        {
            var attr = new byte[MountAttrSize];
            BinaryPrimitives.WriteUInt64LittleEndian(attr, (readOnly ? MOUNT_ATTR_RDONLY : 0) | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
            Add(readOnly ? SetupStep.RemountReadOnly : SetupStep.BindMount, $"{(readOnly ? "read-only, " : "")}nosuid, nodev below {what}",
                SyscallNumber.MountSetattr, AT_FDCWD, target, AT_RECURSIVE, new OpArg.Bytes(attr), MountAttrSize);
        }

        /// <summary>
        /// The host path (before pivot_root) at which to mount <paramref name="dst"/>. Under a tmpfs the mount
        /// point is created in the child; elsewhere it must already exist, because the root is read-only.
        /// A symlink anywhere on the way is refused: mounting through one could land outside the sandbox's root.
        /// </summary>
        private string MountPoint(string dst, PathKind kind, string what)
        {
            Layer layer = _layers.Last(l => IsWithin(dst, l.Destination));
            string relative = layer.Destination == "/" ? dst.TrimStart('/') : dst[layer.Destination.Length..].TrimStart('/');
            string hostTarget = _root + dst;
            switch (layer.Kind)
            {
                case LayerKind.Tmpfs:
                    CreateInTmpfs(layer, relative, kind);
                    return hostTarget;
                case LayerKind.Opaque:
                    throw new SandboxException($"{what}: cannot mount on {dst}, inside {layer.Destination}, {layer.OpaqueReason}");
            }

            string current = layer.Source!;
            string[] parts = relative.Split('/', StringSplitOptions.RemoveEmptyEntries);
            for (int i = 0; i < parts.Length; i++)
            {
                current = $"{current.TrimEnd('/')}/{parts[i]}";
                PathKind found = host.Lookup(current);
                bool last = i == parts.Length - 1;
                if (found == PathKind.Symlink)
                    throw new SandboxException($"{what}: the mount point {dst} goes through a symlink ({current}); refusing to follow it");
                if (found == PathKind.Missing)
                    throw new SandboxException(
                        $"{what}: the mount point {dst} does not exist in the root ({current}); the root is read-only, so mount points must exist in it or under a --tmpfs");
                if (!last && found != PathKind.Directory)
                    throw new SandboxException($"{what}: {current} is not a directory");
                if (last && (found == PathKind.Directory) != (kind == PathKind.Directory))
                    throw new SandboxException($"{what}: cannot mount a {Noun(kind)} on the {Noun(found)} {dst}");
            }
            return hostTarget;
        }

        private void CreateInTmpfs(Layer layer, string relative, PathKind kind)
        {
            string[] parts = relative.Split('/', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length == 0 && kind != PathKind.Directory)
                throw new SandboxException($"cannot mount a file on the tmpfs at {layer.Destination}, a directory");
            string current = layer.Destination.TrimEnd('/');
            for (int i = 0; i < parts.Length; i++)
            {
                current = $"{current}/{parts[i]}";
                PathKind wanted = i < parts.Length - 1 ? PathKind.Directory : kind;
                if (layer.Created.TryGetValue(current, out PathKind existing))
                {
                    if (existing != wanted)
                        throw new SandboxException($"cannot mount a {Noun(wanted)} on {current}, created earlier as a {Noun(existing)}");
                    continue;
                }
                layer.Created[current] = wanted;
                string hostPath = _root + current;
                if (wanted == PathKind.Directory)
                    Add(SetupStep.MountTmpfs, $"mkdir {current}", SyscallNumber.Mkdirat, AT_FDCWD, hostPath, 0x1ed /* 0755 */);
                else
                {
                    Add(SetupStep.MountTmpfs, $"create {current}", OpFlags.SaveResult, SyscallNumber.Openat, AT_FDCWD, hostPath,
                        O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0x1a4 /* 0644 */);
                    Add(SetupStep.MountTmpfs, $"close {current}", OpFlags.Arg0FromSaved, SyscallNumber.Close, 0L);
                }
            }
        }

        public void LoopbackUp() => Ops.AddRange(ChildOps.LoopbackUp());

        public void PivotRoot()
        {
            // pivot_root(".", ".") stacks the old root on top of the new one; detaching "." then removes
            // it, so no path inside leads back to the host's tree, and no temporary directory is needed.
            Add(SetupStep.PivotRoot, $"chdir {_root}", SyscallNumber.Chdir, _root);
            Add(SetupStep.PivotRoot, "pivot_root . .", SyscallNumber.PivotRoot, ".", ".");
            Add(SetupStep.PivotRoot, "detach the old root", SyscallNumber.Umount2, ".", (long)MNT_DETACH);
            Add(SetupStep.PivotRoot, "chdir /", SyscallNumber.Chdir, "/");
        }

        public void HardenPayload()
        {
            // A new session: no controlling terminal to inject keystrokes into (TIOCSTI).
            Add(SetupStep.SpawnPayload, "setsid", SyscallNumber.Setsid);
            Add(SetupStep.ChangeDirectory, spec.WorkingDirectory, SyscallNumber.Chdir, spec.WorkingDirectory);

            // Securebits first (it needs CAP_SETPCAP), then the bounding set, ambient set, and finally the
            // effective, permitted and inheritable sets, after which nothing privileged is possible.
            Add(SetupStep.DropCapabilities, "lock securebits", SyscallNumber.Prctl, PR_SET_SECUREBITS, (long)SecureBitsLocked, 0L, 0L, 0L);
            for (int cap = 0; cap <= host.LastCapability; cap++)
                Add(SetupStep.DropCapabilities, $"drop capability {cap} from the bounding set", SyscallNumber.Prctl, PR_CAPBSET_DROP, cap, 0L, 0L, 0L);
            Add(SetupStep.DropCapabilities, "clear ambient capabilities", SyscallNumber.Prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0L, 0L, 0L);
            var header = new byte[8];
            BinaryPrimitives.WriteUInt32LittleEndian(header, LINUX_CAPABILITY_VERSION_3);
            Add(SetupStep.DropCapabilities, "capset: all sets empty", SyscallNumber.Capset, new OpArg.Bytes(header), new OpArg.Bytes(new byte[24]));

            Add(SetupStep.NoNewPrivileges, "PR_SET_NO_NEW_PRIVS", SyscallNumber.Prctl, PR_SET_NO_NEW_PRIVS, 1L, 0L, 0L, 0L);
            Add(SetupStep.InstallSeccomp, $"{spec.SeccompFilter.Length / 8} instructions", SyscallNumber.Seccomp, SECCOMP_SET_MODE_FILTER, 0L,
                new OpArg.FilterProgram(spec.SeccompFilter));
        }

        public void Exec()
        {
            Add(SetupStep.Exec, "unblock signals", SyscallNumber.RtSigprocmask, 2L /* SIG_SETMASK */, new OpArg.Bytes(new byte[8]), 0L, 8L);
            var argv = new OpArg.StrArray(spec.Command);
            var envp = new OpArg.StrArray(spec.Environment.Select(kv => $"{kv.Key}={kv.Value}").ToList());
            IReadOnlyList<string> candidates = ExecCandidates();
            for (int i = 0; i < candidates.Count; i++)
            {
                // Like execvp: try each PATH entry; only the last attempt's failure is reported.
                OpFlags flags = i < candidates.Count - 1 ? OpFlags.IgnoreError : OpFlags.None;
                Add(SetupStep.Exec, candidates[i], flags, SyscallNumber.Execve, candidates[i], argv, envp);
            }
        }

        private IReadOnlyList<string> ExecCandidates()
        {
            string program = spec.Command[0];
            if (program.Contains('/'))
                return [program];
            string path = spec.Environment.LastOrDefault(kv => kv.Key == "PATH").Value ?? DefaultPath;
            var dirs = path.Split(':', StringSplitOptions.RemoveEmptyEntries).Where(d => d.StartsWith('/')).Select(d => d.TrimEnd('/')).Distinct().ToList();
            return dirs.Count == 0 ? [$"/usr/bin/{program}"] : dirs.Select(d => $"{d}/{program}").ToList();
        }

        private static string CheckRoot(string root, IHostView host)
        {
            if (!Path.IsPathFullyQualified(root) || root != Path.GetFullPath(root).TrimEnd('/') && root != "/")
                throw new SandboxException($"--rootfs {root}: expected an absolute, normalised path");
            if (root == "/")
                throw new SandboxException("--rootfs /: the host's root cannot be the sandbox's root; give a separate directory");
            PathKind kind = host.Lookup(root);
            if (kind != PathKind.Directory)
                throw new SandboxException($"--rootfs {root}: {(kind == PathKind.Missing ? "does not exist" : kind == PathKind.Symlink ? "is a symlink (pass its target)" : "is not a directory")}");
            return root;
        }

        private string CheckDestination(MountSpec mount)
        {
            string dst = mount.Destination;
            if (!dst.StartsWith('/') || dst == "/" || dst.Contains("//") || dst.EndsWith('/')
                || dst.Split('/').Any(part => part is "." or ".."))
                throw new SandboxException($"{mount.Describe()}: the destination must be an absolute path below / without '.', '..' or empty parts");
            if (IsWithin(dst, "/proc") || IsWithin(dst, "/dev"))
                throw new SandboxException($"{mount.Describe()}: /proc and /dev are built by the sandbox; mounting into them is not supported");
            return dst;
        }

        private static bool IsWithin(string path, string dir) =>
            dir == "/" || path == dir || path.StartsWith(dir + "/", StringComparison.Ordinal);

        private static string Noun(PathKind kind) => kind == PathKind.Directory ? "directory" : "file";

        private enum LayerKind { HostTree, Tmpfs, Opaque }

        /// <summary>What backs a destination path in the tree being built, to check or create mount points.</summary>
        private sealed record Layer(string Destination, LayerKind Kind, string? Source, string OpaqueReason = "")
        {
            /// <summary>Mount points this plan creates in a tmpfs layer, with their kind.</summary>
            public Dictionary<string, PathKind> Created { get; } = [];
        }
    }
}
