using System.Runtime.InteropServices;
using System.Text;
using Tmds.Linux;

namespace AutoReview.Sandbox.Interop;

/// <summary>File-descriptor and filesystem calls of the parent side.</summary>
internal static unsafe class FileInterop
{
    /// <summary>A CLOEXEC pipe whose write end is moved to fd 10 or above, so the child can dup3 it to 3.</summary>
    public static (int Read, int Write) CreateStatusPipe()
    {
        int* fds = stackalloc int[2];
        if (LibC.pipe2(fds, LinuxConstants.O_CLOEXEC) != 0)
            throw new SyscallException("pipe2", Marshal.GetLastPInvokeError());
        return (fds[0], MoveToTenOrAbove(fds[1], alsoCloseOnFailure: fds[0]));
    }

    /// <summary>
    /// Moves an fd meant for the child to 10 or above (CLOEXEC), closing the original: the child dup3s it onto a
    /// small fixed number, and dup3 onto itself would fail.
    /// </summary>
    public static int MoveToTenOrAbove(int fd, int alsoCloseOnFailure)
    {
        int high = LibC.fcntl(fd, LinuxConstants.F_DUPFD_CLOEXEC, 10);
        int errno = Marshal.GetLastPInvokeError();
        LibC.close(fd);
        if (high < 0)
        {
            LibC.close(alsoCloseOnFailure);
            throw new SyscallException("fcntl(F_DUPFD_CLOEXEC)", errno);
        }
        return high;
    }

    /// <summary>Reads exactly <paramref name="buffer"/>.Length bytes, or fewer only at end of file.</summary>
    public static int ReadFull(int fd, Span<byte> buffer)
    {
        int total = 0;
        fixed (byte* p = buffer)
        {
            while (total < buffer.Length)
            {
                long n = LibC.read(fd, p + total, buffer.Length - total);
                if (n == 0) break;
                if (n < 0)
                {
                    int errno = Marshal.GetLastPInvokeError();
                    if (errno == Errno.EINTR) continue;
                    throw new SyscallException("read", errno);
                }
                total += (int)n;
            }
        }
        return total;
    }

    public static void Close(int fd) => LibC.close(fd);

    /// <summary>The mount flags (ST_*) of the mount that holds <paramref name="path"/>.</summary>
    public static ulong MountFlags(string path)
    {
        statvfs st;
        byte[] z = NullTerminated(path);
        fixed (byte* p = z)
        {
            if (LibC.statvfs(p, &st) != 0)
                throw new SyscallException("statvfs", Marshal.GetLastPInvokeError(), path);
        }
        return st.f_flag;
    }

    /// <summary>access(path, W_OK) for the real uid.</summary>
    public static bool IsWritable(string path)
    {
        byte[] z = NullTerminated(path);
        fixed (byte* p = z)
            return LibC.access(p, 2 /* W_OK */) == 0;
    }

    /// <summary>lstat (or stat) reduced to what mount planning needs.</summary>
    public static PathKind Kind(string path, bool followLinks)
    {
        stat st;
        byte[] z = NullTerminated(path);
        int result;
        fixed (byte* p = z)
            result = followLinks ? LibC.stat(p, &st) : LibC.lstat(p, &st);
        if (result != 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            if (errno is Errno.ENOENT or Errno.ENOTDIR) return PathKind.Missing;
            throw new SyscallException(followLinks ? "stat" : "lstat", errno, path);
        }
        return ((ushort)st.st_mode & 0xF000) switch
        {
            0x4000 => PathKind.Directory,
            0xA000 => PathKind.Symlink,
            _ => PathKind.File,
        };
    }

    private static byte[] NullTerminated(string s)
    {
        var bytes = new byte[Encoding.UTF8.GetByteCount(s) + 1];
        Encoding.UTF8.GetBytes(s, bytes);
        return bytes;
    }
}
