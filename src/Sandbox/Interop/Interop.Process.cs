using System.Runtime.InteropServices;

namespace AutoReview.Sandbox.Interop;

/// <summary>Process-lifecycle calls of the parent side: reaping and signalling the sandbox's init.</summary>
internal static unsafe partial class ProcessInterop
{
    [LibraryImport("libc", EntryPoint = "waitid", SetLastError = true)]
    private static partial int waitid(int idtype, int id, byte* infop, int options);

    /// <summary>How the sandbox's init ended, from waitid's siginfo: CLD_EXITED with a code, or the killing signal.</summary>
    public readonly record struct ChildExit(int Code, int Status);

    /// <summary>Blocks until the process behind <paramref name="pidfd"/> exits and reaps it.</summary>
    public static ChildExit WaitPidfd(int pidfd)
    {
        byte* info = stackalloc byte[128];
        while (true)
        {
            new Span<byte>(info, 128).Clear();
            if (waitid(LinuxConstants.P_PIDFD, pidfd, info, LinuxConstants.WEXITED) == 0)
                return new ChildExit(*(int*)(info + 8), *(int*)(info + 24));
            int errno = Marshal.GetLastPInvokeError();
            if (errno != Errno.EINTR)
                throw new SyscallException("waitid(P_PIDFD)", errno);
        }
    }

    /// <summary>Sends a signal through a pidfd, which cannot hit a recycled pid.</summary>
    public static void SignalPidfd(int pidfd, int signal)
    {
        long result = RawSyscall.Invoke(SyscallNumber.PidfdSendSignal, pidfd, signal);
        if (result < 0 && Marshal.GetLastPInvokeError() != Errno.ESRCH)
            throw new SyscallException("pidfd_send_signal", Marshal.GetLastPInvokeError());
    }
}
