namespace AutoReview.Bundle.Elf;

/// <summary>
/// Paths inside a sysroot, resolved as the kernel would resolve them after chroot(sysroot): an absolute symlink
/// target starts again at the sysroot, not at the build host's "/", and ".." never climbs above the sysroot.
/// Without this a Nix or chroot sysroot would silently pick up the build host's own libraries.
/// </summary>
internal static class SysrootPath
{
    /// <summary>Linux gives ELOOP after following this many symlinks in one lookup.</summary>
    private const int MaxSymlinks = 40;

    /// <summary>Where a rootfs-absolute path lives on the build host.</summary>
    public static string Host(string sysroot, string rootfsPath) => sysroot == "/" ? rootfsPath : sysroot.TrimEnd('/') + rootfsPath;

    /// <summary>
    /// The canonical rootfs-absolute path (no symlinks, ".", ".." or repeated slashes) that
    /// <paramref name="rootfsPath"/> names, or null if it does not exist.
    /// </summary>
    public static string? Resolve(string sysroot, string rootfsPath)
    {
        var resolved = new List<string>();
        var pending = new Stack<string>();
        PushComponents(pending, rootfsPath);
        int symlinks = 0;
        while (pending.Count > 0)
        {
            string part = pending.Pop();
            if (part is "" or ".")
                continue;
            if (part == "..")
            {
                if (resolved.Count > 0)
                    resolved.RemoveAt(resolved.Count - 1);
                continue;
            }

            resolved.Add(part);
            string host = Host(sysroot, Join(resolved));
            if (new FileInfo(host).LinkTarget is { } target)
            {
                if (++symlinks > MaxSymlinks)
                    throw new BundleException($"{Host(sysroot, rootfsPath)}: too many levels of symbolic links");
                resolved.RemoveAt(resolved.Count - 1);
                if (target.StartsWith('/'))
                    resolved.Clear();
                PushComponents(pending, target);
                continue;
            }

            if (!File.Exists(host) && !Directory.Exists(host))
                return null;
            // Only a directory can have a path continue below it (ENOTDIR otherwise, even for "file/..").
            if (pending.Any(p => p is not ("" or ".")) && !Directory.Exists(host))
                return null;
        }
        return Join(resolved);
    }

    private static void PushComponents(Stack<string> pending, string path)
    {
        string[] parts = path.Split('/');
        for (int i = parts.Length - 1; i >= 0; i--)
            pending.Push(parts[i]);
    }

    private static string Join(List<string> parts) => "/" + string.Join('/', parts);
}
