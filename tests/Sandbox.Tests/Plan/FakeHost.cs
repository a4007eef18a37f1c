using static AutoReview.Sandbox.Interop.LinuxConstants;

namespace AutoReview.Sandbox.Tests.Plan;

/// <summary>
/// A made-up host for building plans without touching the real filesystem (youki's syscall/test.rs idea):
/// an in-memory map of path → <see cref="PathKind"/>, of mount point → statvfs flags (ST_*), and the ids.
/// Paths are absolute and normalised; a path not added is <see cref="PathKind.Missing"/>.
/// </summary>
internal sealed class FakeHost : IHostView
{
    /// <summary>The rootfs of <see cref="Typical"/>.</summary>
    public const string Root = "/srv/rootfs";

    private readonly Dictionary<string, PathKind> _paths = new(StringComparer.Ordinal) { ["/"] = PathKind.Directory };
    private readonly Dictionary<string, string> _symlinkTargets = new(StringComparer.Ordinal);
    private readonly Dictionary<string, ulong> _mounts = new(StringComparer.Ordinal) { ["/"] = ST_RELATIME };

    public uint Uid { get; set; } = 1000;
    public uint Gid { get; set; } = 1000;
    public int LastCapability { get; set; } = 40;

    /// <summary>
    /// A host with a rootfs at <see cref="Root"/> holding the usual top-level directories, and some host
    /// directories and files to bind from. /srv is its own nosuid,nodev mount.
    /// </summary>
    public static FakeHost Typical()
    {
        var host = new FakeHost();
        foreach (string dir in new[] { "proc", "dev", "tmp", "etc", "usr/bin", "usr/local/bin", "bin", "home", "work", "src", "opt", "var/cache" })
            host.AddDirectory($"{Root}/{dir}");
        host.AddFile($"{Root}/etc/passwd")
            .AddFile($"{Root}/etc/resolv.conf")
            .AddFile($"{Root}/usr/bin/true")
            .AddDirectory("/host/src/lib")
            .AddFile("/host/cfg.toml")
            .AddDirectory("/data/cache")
            .AddMount("/srv", ST_NOSUID | ST_NODEV | ST_RELATIME)
            .AddMount("/data", ST_NOSUID | ST_NODEV | ST_NOEXEC | ST_NOATIME);
        return host;
    }

    /// <summary>Adds a directory and any missing parents.</summary>
    public FakeHost AddDirectory(string path)
    {
        AddParents(path);
        _paths[path] = PathKind.Directory;
        return this;
    }

    /// <summary>Adds a regular file (and any missing parent directories).</summary>
    public FakeHost AddFile(string path)
    {
        AddParents(path);
        _paths[path] = PathKind.File;
        return this;
    }

    /// <summary>Adds a symlink; <paramref name="target"/> is absolute or relative to the link's directory.</summary>
    public FakeHost AddSymlink(string path, string target)
    {
        AddParents(path);
        _paths[path] = PathKind.Symlink;
        _symlinkTargets[path] = target;
        return this;
    }

    public FakeHost Remove(string path)
    {
        _paths.Remove(path);
        _symlinkTargets.Remove(path);
        return this;
    }

    /// <summary>Makes <paramref name="path"/> a mount point whose statvfs f_flag is <paramref name="stFlags"/>.</summary>
    public FakeHost AddMount(string path, ulong stFlags)
    {
        _mounts[path] = stFlags;
        return this;
    }

    /// <summary>statvfs: the flags of the mount with the longest prefix of the path.</summary>
    public ulong MountFlags(string path) =>
        _mounts.Where(m => m.Key == "/" || path == m.Key || path.StartsWith(m.Key + "/", StringComparison.Ordinal))
            .MaxBy(m => m.Key.Length).Value;

    public PathKind Lookup(string path) => _paths.GetValueOrDefault(path, PathKind.Missing);

    /// <summary>stat: follows symlinks in every component, as the kernel would (at most 40 of them).</summary>
    public PathKind Resolve(string path)
    {
        for (int hops = 0; hops < 40; hops++)
        {
            string[] parts = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
            string current = "";
            string? next = null;
            for (int i = 0; i < parts.Length && next is null; i++)
            {
                string parent = current.Length == 0 ? "/" : current;
                current = $"{current}/{parts[i]}";
                if (Lookup(current) != PathKind.Symlink)
                    continue;
                string target = _symlinkTargets[current];
                string rest = string.Join('/', parts.Skip(i + 1));
                next = Path.GetFullPath(Path.Combine(target.StartsWith('/') ? target : Path.Combine(parent, target), rest));
            }
            if (next is null)
                return Lookup(path.Length > 1 ? path.TrimEnd('/') : path);
            path = next.Length > 1 ? next.TrimEnd('/') : next;
        }
        return PathKind.Missing; // ELOOP
    }

    private void AddParents(string path)
    {
        for (string? dir = Path.GetDirectoryName(path); dir is not null && dir != "/"; dir = Path.GetDirectoryName(dir))
            _paths.TryAdd(dir, PathKind.Directory);
    }
}
