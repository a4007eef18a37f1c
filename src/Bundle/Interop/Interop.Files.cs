using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Win32.SafeHandles;
using Tmds.Linux;

namespace AutoReview.Bundle.Interop;

/// <summary>The bundle cache's syscalls: advisory locks and directory fsync. Errors name the call and the path.</summary>
internal static unsafe partial class FileInterop
{
    private const int LOCK_SH = 1, LOCK_EX = 2, LOCK_NB = 4;
    private const int O_RDONLY = 0, O_CREAT = 0x40, O_DIRECTORY = 0x10000, O_CLOEXEC = 0x80000;
    private const int EWOULDBLOCK = 11, EINTR = 4;

    [LibraryImport("libc", EntryPoint = "flock", SetLastError = true)]
    private static partial int flock(int fd, int operation);

    /// <summary>Blocks until the lock is held. Shared: many launches; exclusive: one unpacker or pruner.</summary>
    public static void Lock(SafeFileHandle handle, bool exclusive, string path)
    {
        while (flock((int)handle.DangerousGetHandle(), exclusive ? LOCK_EX : LOCK_SH) != 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            if (errno != EINTR)
                throw new BundleException($"flock `{path}`: {Marshal.GetPInvokeErrorMessage(errno)}");
        }
    }

    /// <summary>Takes an exclusive lock only if nobody holds any lock on the file.</summary>
    public static bool TryLockExclusive(SafeFileHandle handle, string path)
    {
        if (flock((int)handle.DangerousGetHandle(), LOCK_EX | LOCK_NB) == 0)
            return true;
        int errno = Marshal.GetLastPInvokeError();
        return errno == EWOULDBLOCK ? false : throw new BundleException($"flock `{path}`: {Marshal.GetPInvokeErrorMessage(errno)}");
    }

    /// <summary>
    /// Opens (creating) a lock file with a plain open(2). .NET's FileStream/File.OpenHandle emulate FileShare
    /// with a flock of their own at open time, which would make a second process's open fail while the
    /// first holds our exclusive lock, instead of waiting for it.
    /// </summary>
    public static SafeFileHandle OpenLockFile(string path)
    {
        byte[] z = Encoding.UTF8.GetBytes(path + "\0");
        int fd;
        fixed (byte* p = z)
            fd = LibC.open(p, O_RDONLY | O_CREAT | O_CLOEXEC, 0x1a4 /* 0644 */);
        if (fd < 0)
            throw new IOException($"open `{path}`: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
        return new SafeFileHandle(fd, ownsHandle: true);
    }

    /// <summary>fsync a directory, so a rename or new entries in it survive a crash.</summary>
    public static void SyncDirectory(string path)
    {
        byte[] z = Encoding.UTF8.GetBytes(path + "\0");
        int fd;
        fixed (byte* p = z)
            fd = LibC.open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
        if (fd < 0)
            throw new BundleException($"open `{path}`: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
        try
        {
            if (LibC.fsync(fd) != 0)
                throw new BundleException($"fsync `{path}`: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
        }
        finally
        {
            LibC.close(fd);
        }
    }
}
