using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace AutoReview.Sandbox.Seccomp;

/// <summary>One classic-BPF instruction, laid out like the kernel's <c>struct sock_filter</c>.</summary>
[StructLayout(LayoutKind.Sequential)]
internal readonly record struct SockFilter(ushort Code, byte Jt, byte Jf, uint K);

/// <summary>Classic-BPF opcodes (linux/bpf_common.h) and the kernel's limits on a program.</summary>
internal static class Bpf
{
    private const ushort Ld = 0x00;
    private const ushort Jmp = 0x05;
    private const ushort Ret = 0x06;
    private const ushort W = 0x00;
    private const ushort Abs = 0x20;
    private const ushort Jeq = 0x10;
    private const ushort Jge = 0x30;
    private const ushort Jset = 0x40;
    private const ushort K = 0x00;

    /// <summary>BPF_LD | BPF_W | BPF_ABS: A = 32-bit word of seccomp_data at offset k.</summary>
    public const ushort LdWAbs = Ld | W | Abs;

    /// <summary>BPF_JMP | BPF_JEQ | BPF_K: branch on A == k.</summary>
    public const ushort JeqK = Jmp | Jeq | K;

    /// <summary>BPF_JMP | BPF_JGE | BPF_K: branch on A &gt;= k (unsigned).</summary>
    public const ushort JgeK = Jmp | Jge | K;

    /// <summary>BPF_JMP | BPF_JSET | BPF_K: branch on (A &amp; k) != 0.</summary>
    public const ushort JsetK = Jmp | Jset | K;

    /// <summary>BPF_RET | BPF_K: stop and return k as the seccomp verdict.</summary>
    public const ushort RetK = Ret | K;

    /// <summary>BPF_MAXINSNS: the kernel rejects longer programs.</summary>
    public const int MaxInstructions = 4096;

    /// <summary>Size of one serialised <c>struct sock_filter</c>.</summary>
    public const int InstructionSize = 8;

    /// <summary>
    /// The program in the kernel's byte layout (x86-64 is little-endian), ready to be copied into native memory
    /// and pointed at by a <c>struct sock_fprog</c>.
    /// </summary>
    public static byte[] ToBytes(IReadOnlyList<SockFilter> program)
    {
        var bytes = new byte[program.Count * InstructionSize];
        for (var i = 0; i < program.Count; i++)
        {
            var slot = bytes.AsSpan(i * InstructionSize, InstructionSize);
            BinaryPrimitives.WriteUInt16LittleEndian(slot, program[i].Code);
            slot[2] = program[i].Jt;
            slot[3] = program[i].Jf;
            BinaryPrimitives.WriteUInt32LittleEndian(slot[4..], program[i].K);
        }
        return bytes;
    }
}

/// <summary>
/// Offsets into the kernel's <c>struct seccomp_data</c>: int nr; u32 arch; u64 instruction_pointer; u64 args[6].
/// Loads are 32 bits wide, so each 64-bit argument is read as two words; x86-64 keeps the low word first.
/// </summary>
internal static class SeccompData
{
    public const uint Nr = 0;
    public const uint Arch = 4;
    public const uint InstructionPointer = 8;
    public const int ArgCount = 6;

    public static uint ArgLow(int index) => 16u + 8u * (uint)CheckArg(index);

    public static uint ArgHigh(int index) => 20u + 8u * (uint)CheckArg(index);

    private static int CheckArg(int index) =>
        index is >= 0 and < ArgCount ? index : throw new ArgumentOutOfRangeException(nameof(index), index, "seccomp_data has six arguments");
}

/// <summary>Seccomp filter return values (linux/seccomp.h).</summary>
internal static class SeccompReturn
{
    /// <summary>SECCOMP_RET_KILL_PROCESS: kill every thread, not only the caller, so nothing runs on half-dead.</summary>
    public const uint KillProcess = 0x80000000;

    /// <summary>SECCOMP_RET_ALLOW.</summary>
    public const uint Allow = 0x7fff0000;

    private const uint ErrnoAction = 0x00050000;

    /// <summary>The kernel clamps larger values to MAX_ERRNO; refusing them keeps the policy saying what it does.</summary>
    private const int MaxErrno = 4095;

    /// <summary>SECCOMP_RET_ERRNO: fail the call with -<paramref name="errno"/> without running it.</summary>
    public static uint Errno(int errno) =>
        errno is > 0 and <= MaxErrno
            ? ErrnoAction | (uint)errno
            : throw new ArgumentOutOfRangeException(nameof(errno), errno, $"errno must be in 1..{MaxErrno}");
}

/// <summary>AUDIT_ARCH_* values the kernel reports in seccomp_data.arch (linux/audit.h).</summary>
internal static class AuditArch
{
    public const uint X86_64 = 0xC000003E;
}

/// <summary>
/// Assembles classic BPF with symbolic labels. Classic BPF only jumps forward, by an 8-bit offset, so a
/// label must be defined after every jump to it and within 255 instructions; anything else throws rather
/// than emitting a long-jump, because the policy is far smaller than that and a throw is easier to trust.
/// </summary>
internal sealed class BpfAssembler
{
    private readonly List<Pending> _code = [];
    private readonly Dictionary<string, int> _labels = new(StringComparer.Ordinal);

    /// <summary>Names the next instruction emitted.</summary>
    public BpfAssembler Label(string name)
    {
        if (!_labels.TryAdd(name, _code.Count))
            throw new InvalidOperationException($"BPF label `{name}` is defined twice");
        return this;
    }

    /// <summary>A = the 32-bit word of seccomp_data at <paramref name="offset"/>.</summary>
    public BpfAssembler LoadWord(uint offset) => Emit(Bpf.LdWAbs, offset, null, null);

    /// <summary>If A == k go to <paramref name="ifTrue"/>, else <paramref name="ifFalse"/>; null means the next instruction.</summary>
    public BpfAssembler JumpIfEqual(uint k, string? ifTrue, string? ifFalse = null) => Emit(Bpf.JeqK, k, ifTrue, ifFalse);

    /// <summary>If A &gt;= k (unsigned) go to <paramref name="ifTrue"/>, else <paramref name="ifFalse"/>; null means the next instruction.</summary>
    public BpfAssembler JumpIfGreaterOrEqual(uint k, string? ifTrue, string? ifFalse = null) => Emit(Bpf.JgeK, k, ifTrue, ifFalse);

    /// <summary>If A has any bit of k set go to <paramref name="ifTrue"/>, else <paramref name="ifFalse"/>; null means the next instruction.</summary>
    public BpfAssembler JumpIfAnySet(uint k, string? ifTrue, string? ifFalse = null) => Emit(Bpf.JsetK, k, ifTrue, ifFalse);

    /// <summary>Stops with seccomp verdict <paramref name="verdict"/> (see <see cref="SeccompReturn"/>).</summary>
    public BpfAssembler Return(uint verdict) => Emit(Bpf.RetK, verdict, null, null);

    /// <summary>
    /// Resolves labels into relative offsets. Checks what the kernel's loader would otherwise reject with a bare
    /// EINVAL: an empty or oversized program, a jump out of range, and a last instruction that is not a return.
    /// </summary>
    public IReadOnlyList<SockFilter> Build()
    {
        if (_code.Count == 0)
            throw new InvalidOperationException("BPF program is empty");
        if (_code.Count > Bpf.MaxInstructions)
            throw new InvalidOperationException($"BPF program has {_code.Count} instructions; the kernel allows {Bpf.MaxInstructions}");
        if (_code[^1].Code != Bpf.RetK)
            throw new InvalidOperationException("BPF program does not end in a return, so a path could run off the end");
        foreach (var (name, index) in _labels)
        {
            if (index == _code.Count)
                throw new InvalidOperationException($"BPF label `{name}` is not followed by an instruction");
        }

        var program = new SockFilter[_code.Count];
        for (var pc = 0; pc < _code.Count; pc++)
        {
            var op = _code[pc];
            program[pc] = new SockFilter(op.Code, Offset(pc, op.IfTrue), Offset(pc, op.IfFalse), op.K);
        }
        return program;
    }

    private BpfAssembler Emit(ushort code, uint k, string? ifTrue, string? ifFalse)
    {
        _code.Add(new Pending(code, k, ifTrue, ifFalse));
        return this;
    }

    private byte Offset(int pc, string? label)
    {
        if (label is null)
            return 0;
        if (!_labels.TryGetValue(label, out var target))
            throw new InvalidOperationException($"BPF label `{label}` is never defined");
        var offset = target - (pc + 1);
        if (offset < 0)
            throw new InvalidOperationException($"BPF jump at {pc} to `{label}` goes backwards; classic BPF only jumps forward");
        if (offset > byte.MaxValue)
            throw new InvalidOperationException($"BPF jump at {pc} to `{label}` spans {offset} instructions; the limit is {byte.MaxValue}");
        return (byte)offset;
    }

    private readonly record struct Pending(ushort Code, uint K, string? IfTrue, string? IfFalse);
}
