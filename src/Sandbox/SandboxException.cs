namespace AutoReview.Sandbox;

/// <summary>
/// Every sandbox failure. The message is meant for a person: what failed, where, and why,
/// in the style "mount `/src` on `/dst`: EPERM (Operation not permitted)".
/// </summary>
public class SandboxException : Exception
{
    public SandboxException(string message, Exception? inner = null) : base(message, inner) { }
}

/// <summary>A syscall made by the launcher itself (the parent side) failed.</summary>
public sealed class SyscallException : SandboxException
{
    public SyscallException(string syscall, int errno, string? path = null)
        : base(Format(syscall, errno, path))
    {
        Syscall = syscall;
        Errno = errno;
        Path = path;
    }

    public string Syscall { get; }
    public int Errno { get; }
    public string? Path { get; }

    private static string Format(string syscall, int errno, string? path) =>
        path is null
            ? $"{syscall}: {Interop.Errno.Describe(errno)}"
            : $"{syscall} `{path}`: {Interop.Errno.Describe(errno)}";
}

/// <summary>
/// A step of sandbox setup failed, in the parent (clone) or in the child (reported over the status pipe).
/// The message carries the diagnosis: the likely cause and the fix. Nothing was run unsandboxed.
/// </summary>
public sealed class SandboxSetupException : SandboxException
{
    public SandboxSetupException(SetupStep step, string detail, int errno, string message) : base(message)
    {
        Step = step;
        Detail = detail;
        Errno = errno;
    }

    public SetupStep Step { get; }
    public string Detail { get; }
    public int Errno { get; }
}
