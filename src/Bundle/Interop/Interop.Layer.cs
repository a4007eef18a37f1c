using System.Runtime.InteropServices;
using System.Text;
using AutoReview.Bundle.Layer;
using Tmds.Linux;

namespace AutoReview.Bundle.Interop;

/// <summary>
/// The syscalls of the layer writer and extractor, as thin wrappers that turn errno into a <see cref="BundleException"/>
/// naming the path. Inside a rootfs every name passed here is ONE path component, resolved relative to a directory fd
/// that was itself opened with O_NOFOLLOW, so nothing inside the rootfs is ever followed. Whole paths are passed
/// only for the starting directory (the extraction root, or the tree MakeWritable walks; its last component must not
/// be a symlink) and for the writer's host source files (<see cref="StatMode"/>).
/// </summary>
internal static unsafe class LayerSyscalls
{
    private static readonly int DirectoryOpenFlags = LibC.O_DIRECTORY | LibC.O_NOFOLLOW | LibC.O_CLOEXEC;

    /// <summary>AT_FDCWD: resolve a path relative to the working directory (or absolute).</summary>
    public static int CurrentDirectory => LibC.AT_FDCWD;

    /// <summary>Opens the extraction root itself; a symlink there is refused, not followed.</summary>
    public static int OpenRoot(string path)
    {
        int fd = OpenAt(LibC.AT_FDCWD, path, LibC.O_RDONLY | DirectoryOpenFlags, 0);
        if (fd < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            string found = errno == LibC.ENOENT ? "it does not exist"
                : errno == LibC.ENOTDIR || errno == LibC.ELOOP ? "it is not a directory (or is a symlink)"
                : Describe(errno);
            throw new BundleException($"{path}: cannot extract into it: {found} (expected an existing empty directory)");
        }
        return fd;
    }

    /// <summary>Opens a directory one component below <paramref name="dirFd"/>, refusing a symlink (ELOOP/ENOTDIR).</summary>
    public static int OpenDirectoryAt(int dirFd, string name, string pathForErrors)
    {
        int fd = OpenAt(dirFd, name, LibC.O_RDONLY | DirectoryOpenFlags, 0);
        return fd >= 0 ? fd : throw Failure(pathForErrors, "open directory (O_NOFOLLOW)");
    }

    /// <summary>Creates a new regular file for writing. O_EXCL|O_NOFOLLOW: never reuses or follows what is there.</summary>
    public static int CreateFileAt(int dirFd, string name, string pathForErrors)
    {
        int flags = LibC.O_WRONLY | LibC.O_CREAT | LibC.O_EXCL | LibC.O_NOFOLLOW | LibC.O_CLOEXEC;
        int fd = OpenAt(dirFd, name, flags, 0x180 /* 0600: writable by us until the final fchmod */);
        return fd >= 0 ? fd : throw Failure(pathForErrors, "create file (O_CREAT|O_EXCL|O_NOFOLLOW)");
    }

    public static void MakeDirectoryAt(int dirFd, string name, string pathForErrors)
    {
        byte[] z = NullTerminated(name);
        fixed (byte* p = z)
        {
            // 0700 while children are added; the extractor's final pass sets the real mode.
            if (LibC.mkdirat(dirFd, p, (ushort)0x1C0) != 0)
                throw Failure(pathForErrors, "mkdirat");
        }
    }

    public static void SymlinkAt(string target, int dirFd, string name, string pathForErrors)
    {
        byte[] t = NullTerminated(target), n = NullTerminated(name);
        fixed (byte* pt = t)
        fixed (byte* pn = n)
        {
            if (LibC.symlinkat(pt, dirFd, pn) != 0)
                throw Failure(pathForErrors, "symlinkat");
        }
    }

    /// <summary>linkat with flags 0: if the old name were a symlink, the link would be to the symlink, not through it.</summary>
    public static void HardlinkAt(int oldDirFd, string oldName, int newDirFd, string newName, string pathForErrors)
    {
        byte[] o = NullTerminated(oldName), n = NullTerminated(newName);
        fixed (byte* po = o)
        fixed (byte* pn = n)
        {
            if (LibC.linkat(oldDirFd, po, newDirFd, pn, 0) != 0)
                throw Failure(pathForErrors, "linkat");
        }
    }

    public static void WriteAll(int fd, ReadOnlySpan<byte> bytes, string pathForErrors)
    {
        fixed (byte* p = bytes)
        {
            int done = 0;
            while (done < bytes.Length)
            {
                long n = LibC.write(fd, p + done, bytes.Length - done);
                if (n < 0)
                {
                    if (Marshal.GetLastPInvokeError() == LibC.EINTR) continue;
                    throw Failure(pathForErrors, "write");
                }
                done += (int)n;
            }
        }
    }

    public static void Fsync(int fd, string pathForErrors)
    {
        if (LibC.fsync(fd) != 0)
            throw Failure(pathForErrors, "fsync");
    }

    public static void Fchmod(int fd, int mode, string pathForErrors)
    {
        if (LibC.fchmod(fd, (ushort)mode) != 0)
            throw Failure(pathForErrors, "fchmod");
    }

    /// <summary>File type and permission bits of the entry itself (AT_SYMLINK_NOFOLLOW).</summary>
    public static int LstatModeAt(int dirFd, string name, string pathForErrors)
    {
        stat st;
        byte[] z = NullTerminated(name);
        fixed (byte* p = z)
        {
            if (LibC.fstatat(dirFd, p, &st, LibC.AT_SYMLINK_NOFOLLOW) != 0)
                throw Failure(pathForErrors, "fstatat(AT_SYMLINK_NOFOLLOW)");
        }
        return (ushort)st.st_mode;
    }

    public static int FstatMode(int fd, string pathForErrors)
    {
        stat st;
        if (LibC.fstat(fd, &st) != 0)
            throw Failure(pathForErrors, "fstat");
        return (ushort)st.st_mode;
    }

    /// <summary>stat, following symlinks: for host source files, outside any rootfs.</summary>
    public static int StatMode(string path, string pathForErrors)
    {
        stat st;
        byte[] z = NullTerminated(path);
        fixed (byte* p = z)
        {
            if (LibC.stat(p, &st) != 0)
                throw Failure(pathForErrors, "stat");
        }
        return (ushort)st.st_mode;
    }

    public static bool IsDirectory(int mode) => (mode & 0xF000) == 0x4000;
    public static bool IsRegularFile(int mode) => (mode & 0xF000) == 0x8000;

    public static string TypeName(int mode) => (mode & 0xF000) switch
    {
        0x4000 => "directory",
        0x8000 => "regular file",
        0xA000 => "symlink",
        0x2000 => "character device",
        0x6000 => "block device",
        0x1000 => "FIFO",
        0xC000 => "socket",
        _ => $"file of type {LayerPaths.Octal(mode & 0xF000)}",
    };

    public static void Close(int fd) => LibC.close(fd);

    private static int OpenAt(int dirFd, string name, int flags, int mode)
    {
        byte[] z = NullTerminated(name);
        fixed (byte* p = z)
            return LibC.openat(dirFd, p, flags, (ushort)mode);
    }

    private static BundleException Failure(string path, string call)
    {
        int errno = Marshal.GetLastPInvokeError();
        return new BundleException($"{path}: {call} failed: {Describe(errno)}");
    }

    private static string Describe(int errno) => $"{Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})";

    private static byte[] NullTerminated(string s)
    {
        var bytes = new byte[Encoding.UTF8.GetByteCount(s) + 1];
        Encoding.UTF8.GetBytes(s, bytes);
        return bytes;
    }
}
