using AutoReview.Sandbox.Interop;

namespace AutoReview.Sandbox;

/// <summary>An argument of a child-side syscall, kept readable so tests can assert on it.</summary>
public abstract record OpArg
{
    public static implicit operator OpArg(long value) => new Int(value);
    public static implicit operator OpArg(string value) => new Str(value);

    /// <summary>An integer passed as is.</summary>
    public sealed record Int(long Value) : OpArg
    {
        public override string ToString() => Value.ToString();
    }

    /// <summary>A path or name, passed as a pointer to NUL-terminated UTF-8.</summary>
    public sealed record Str(string Value) : OpArg
    {
        public override string ToString() => $"\"{Value}\"";
    }

    /// <summary>A raw buffer (uid_map text, struct ifreq, a BPF program), passed as a pointer.</summary>
    public sealed record Bytes(byte[] Value) : OpArg
    {
        public override string ToString() => $"<{Value.Length} bytes>";
    }

    /// <summary>A NULL-terminated array of C strings (argv, envp).</summary>
    public sealed record StrArray(IReadOnlyList<string> Value) : OpArg
    {
        public override string ToString() => $"[{string.Join(", ", Value.Select(v => $"\"{v}\""))}]";
    }

    /// <summary>
    /// A struct msghdr that sends <paramref name="Payload"/> with one SCM_RIGHTS control message carrying
    /// <paramref name="Fd"/> (a fixed fd number, since the child cannot patch memory at run time).
    /// </summary>
    public sealed record FdPassingMessage(int Fd, byte[] Payload) : OpArg
    {
        public override string ToString() => $"<msghdr: fd {Fd}, {Payload.Length} bytes>";
    }

    /// <summary>A struct sock_fprog pointing at the given BPF program bytes.</summary>
    public sealed record FilterProgram(byte[] Instructions) : OpArg
    {
        public override string ToString() => $"<bpf {Instructions.Length / 8} insns>";
    }
}

[Flags]
public enum OpFlags : long
{
    None = 0,
    /// <summary>A failure is expected and harmless (e.g. resetting SIGKILL's handler).</summary>
    IgnoreError = 1,
    /// <summary>Keep the result (an fd) for later ops.</summary>
    SaveResult = 2,
    /// <summary>Pass the saved result as the first argument.</summary>
    Arg0FromSaved = 4,
}

/// <summary>One raw syscall that the child makes, or the SPAWN_PAYLOAD marker.</summary>
public sealed record ChildOp(SetupStep Step, string Detail, long Number, IReadOnlyList<OpArg> Args, OpFlags Flags = OpFlags.None)
{
    /// <summary>Not a syscall: the namespace's init vforks the payload here; later ops run in the payload.</summary>
    public const long SpawnPayload = 0x7fff0001;

    public string SyscallName => Number == SpawnPayload
        ? "spawn-payload"
        : Enum.IsDefined(typeof(SyscallNumber), (uint)Number) ? KernelName((SyscallNumber)(uint)Number) : $"syscall {Number}";

    /// <summary>The kernel's spelling of a syscall name: PivotRoot → pivot_root, RtSigprocmask → rt_sigprocmask.</summary>
    internal static string KernelName(SyscallNumber number)
    {
        var name = new System.Text.StringBuilder();
        foreach (char c in number.ToString())
        {
            if (char.IsUpper(c) && name.Length > 0) name.Append('_');
            name.Append(char.ToLowerInvariant(c));
        }
        return name.ToString();
    }

    public override string ToString() =>
        $"{SyscallName}({string.Join(", ", Args)}){(Flags == OpFlags.None ? "" : $" [{Flags}]")}  # {Step}: {Detail}";
}

/// <summary>
/// Everything the child does between clone and execve, decided in advance by the parent. It is a value:
/// tests read the sequence (setgroups before gid_map, locked flags kept on remount) without running it.
/// </summary>
public sealed record ChildProgram(ulong CloneFlags, IReadOnlyList<ChildOp> Ops)
{
    public override string ToString() =>
        $"clone(0x{CloneFlags:x})\n" + string.Join("\n", Ops.Select((op, i) => $"{i,3}: {op}"));
}
