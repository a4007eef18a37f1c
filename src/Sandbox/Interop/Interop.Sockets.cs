using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace AutoReview.Sandbox.Interop;

/// <summary>Receiving the listening sockets that the sandbox's init creates in its network namespace.</summary>
internal static unsafe partial class SocketInterop
{
    [LibraryImport("libc", EntryPoint = "socketpair", SetLastError = true)]
    private static partial int socketpair(int domain, int type, int protocol, int* fds);

    [LibraryImport("libc", EntryPoint = "recvmsg", SetLastError = true)]
    private static partial long recvmsg(int fd, byte* msghdr, int flags);

    /// <summary>A SOCK_SEQPACKET pair; the child's end is moved to fd 10 or above, so the child can dup3 it to 4.</summary>
    public static (int Parent, int Child) CreateListenerChannel()
    {
        int* fds = stackalloc int[2];
        if (socketpair(LinuxConstants.AF_UNIX, LinuxConstants.SOCK_SEQPACKET | LinuxConstants.SOCK_CLOEXEC, 0, fds) != 0)
            throw new SyscallException("socketpair", Marshal.GetLastPInvokeError());
        return (fds[0], FileInterop.MoveToTenOrAbove(fds[1], alsoCloseOnFailure: fds[0]));
    }

    /// <summary>
    /// Receives one listening socket and the port it serves; null at end of file (the child failed before
    /// sending it, and the status pipe says why).
    /// </summary>
    public static (Socket Socket, int Port)? ReceiveListener(int channel)
    {
        byte* payload = stackalloc byte[2];
        byte* iov = stackalloc byte[16];
        byte* control = stackalloc byte[24];
        byte* msghdr = stackalloc byte[56];
        new Span<byte>(msghdr, 56).Clear();
        new Span<byte>(control, 24).Clear();
        *(nint*)iov = (nint)payload;
        *(long*)(iov + 8) = 2;
        *(nint*)(msghdr + 16) = (nint)iov;
        *(long*)(msghdr + 24) = 1;
        *(nint*)(msghdr + 32) = (nint)control;
        *(long*)(msghdr + 40) = 24;
        long n;
        while ((n = recvmsg(channel, msghdr, LinuxConstants.MSG_CMSG_CLOEXEC)) < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            if (errno != Errno.EINTR)
                throw new SyscallException("recvmsg", errno);
        }
        if (n == 0)
            return null;
        if (n != 2 || *(int*)(control + 8) != LinuxConstants.SOL_SOCKET || *(int*)(control + 12) != LinuxConstants.SCM_RIGHTS)
            throw new SandboxException("the sandbox's init sent a malformed listener message");
        int fd = *(int*)(control + 16);
        return (new Socket(new SafeSocketHandle(fd, ownsHandle: true)), *(ushort*)payload);
    }
}
