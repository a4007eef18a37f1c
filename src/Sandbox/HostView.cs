using AutoReview.Sandbox.Interop;

namespace AutoReview.Sandbox;

public enum PathKind
{
    Missing,
    Directory,
    /// <summary>Anything that is not a directory or symlink: a regular file, a device, a socket.</summary>
    File,
    Symlink,
}

/// <summary>
/// What the plan needs to know about the host, behind an interface so that plans can be built and
/// checked in tests against a made-up host (as youki's syscall/test.rs does for its syscalls).
/// </summary>
public interface IHostView
{
    uint Uid { get; }
    uint Gid { get; }

    /// <summary>The highest capability number this kernel knows (/proc/sys/kernel/cap_last_cap).</summary>
    int LastCapability { get; }

    /// <summary>statvfs(path).f_flag: the flags of the mount holding the path (locked in a new user namespace).</summary>
    ulong MountFlags(string path);

    /// <summary>lstat: what is at the path, without following a final symlink.</summary>
    PathKind Lookup(string path);

    /// <summary>stat: what the path resolves to, following symlinks (for sources on the host).</summary>
    PathKind Resolve(string path);
}

/// <summary>The real host.</summary>
public sealed class LinuxHostView : IHostView
{
    public static readonly LinuxHostView Instance = new();

    public uint Uid { get; } = Tmds.Linux.LibC.getuid();
    public uint Gid { get; } = Tmds.Linux.LibC.getgid();

    public int LastCapability { get; } =
        int.TryParse(TryRead("/proc/sys/kernel/cap_last_cap"), out int last) ? last : 40;

    public ulong MountFlags(string path) => FileInterop.MountFlags(path);

    public PathKind Lookup(string path) => FileInterop.Kind(path, followLinks: false);

    public PathKind Resolve(string path) => FileInterop.Kind(path, followLinks: true);

    private static string? TryRead(string path)
    {
        try { return File.ReadAllText(path).Trim(); }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
    }
}
