using System.Runtime.InteropServices;

namespace AutoReview.Sandbox.Interop;

/// <summary>
/// syscall(2) with plain 64-bit arguments, for calls that neither libc nor Tmds.LibC wraps
/// (pidfd_send_signal, landlock_create_ruleset, and the escape probe's deliberately odd calls).
/// </summary>
internal static partial class RawSyscall
{
    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
    private static partial long syscall(long number, long a0, long a1, long a2, long a3, long a4, long a5);

    /// <summary>Returns the raw result; on -1 the errno is in <see cref="Marshal.GetLastPInvokeError"/>.</summary>
    public static long Invoke(SyscallNumber number, long a0 = 0, long a1 = 0, long a2 = 0, long a3 = 0, long a4 = 0, long a5 = 0) =>
        syscall((long)number, a0, a1, a2, a3, a4, a5);
}
