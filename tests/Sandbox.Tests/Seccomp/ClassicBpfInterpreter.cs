using System.Buffers.Binary;
using AutoReview.Sandbox.Seccomp;

namespace AutoReview.Sandbox.Tests.Seccomp;

/// <summary>What the kernel hands a seccomp filter: <c>struct seccomp_data</c>.</summary>
internal sealed record SyscallInput(uint Nr, uint Arch, ulong InstructionPointer, IReadOnlyList<ulong> Args)
{
    public const uint AuditArchX86_64 = 0xC000003E;
    public const uint AuditArchI386 = 0x40000003;
    public const uint AuditArchAarch64 = 0xC00000B7;

    public const int Size = 64;

    public static SyscallInput X86_64(uint nr, params ulong[] args) => new(nr, AuditArchX86_64, 0, args);

    /// <summary>The struct as the kernel lays it out on x86-64: int nr; u32 arch; u64 ip; u64 args[6], little-endian.</summary>
    public byte[] ToBytes()
    {
        if (Args.Count > 6)
            throw new ArgumentException("a syscall has at most six arguments");
        var bytes = new byte[Size];
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(0), Nr);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(4), Arch);
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(8), InstructionPointer);
        for (var i = 0; i < Args.Count; i++)
            BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(16 + 8 * i), Args[i]);
        return bytes;
    }
}

/// <summary>A program the kernel's loader would refuse with EINVAL, or one this interpreter cannot run.</summary>
internal sealed class InvalidBpfProgramException(string message) : Exception(message);

/// <summary>
/// Runs classic BPF the way seccomp does, for the opcodes the policy uses plus JGT and JA. Programs are first
/// checked like the kernel's loader (bpf_check_classic and seccomp_check_filter) checks them, so a program that
/// passes here but would be refused by the kernel is a bug in this class.
/// </summary>
internal static class ClassicBpfInterpreter
{
    // Spelled out from linux/bpf_common.h rather than taken from Bpf, so a wrong constant there is not mirrored here.
    private const ushort LdWAbs = 0x20;
    private const ushort JmpJa = 0x05;
    private const ushort JmpJeqK = 0x15;
    private const ushort JmpJgtK = 0x25;
    private const ushort JmpJgeK = 0x35;
    private const ushort JmpJsetK = 0x45;
    private const ushort RetK = 0x06;
    private const int MaxInstructions = 4096;

    /// <summary>Throws <see cref="InvalidBpfProgramException"/> where the kernel would refuse to load the program.</summary>
    public static void Validate(IReadOnlyList<SockFilter> program)
    {
        if (program.Count is 0 or > MaxInstructions)
            throw new InvalidBpfProgramException($"program length {program.Count} is outside 1..{MaxInstructions}");

        for (var pc = 0; pc < program.Count; pc++)
        {
            var insn = program[pc];
            switch (insn.Code)
            {
                case LdWAbs:
                    // seccomp_check_filter: aligned and inside struct seccomp_data.
                    if (insn.K >= SyscallInput.Size || insn.K % 4 != 0)
                        throw new InvalidBpfProgramException($"load at {pc} reads offset {insn.K}, not an aligned word of seccomp_data");
                    break;
                case JmpJa:
                    if (insn.K >= (uint)(program.Count - pc - 1))
                        throw new InvalidBpfProgramException($"jump at {pc} by {insn.K} leaves the program");
                    break;
                case JmpJeqK or JmpJgtK or JmpJgeK or JmpJsetK:
                    if (pc + 1 + insn.Jt >= program.Count || pc + 1 + insn.Jf >= program.Count)
                        throw new InvalidBpfProgramException($"branch at {pc} (jt {insn.Jt}, jf {insn.Jf}) leaves the program");
                    break;
                case RetK:
                    break;
                default:
                    throw new InvalidBpfProgramException($"opcode 0x{insn.Code:x2} at {pc} is unknown or not supported here");
            }
        }

        // bpf_check_classic: jumps only go forward, so a last instruction that returns means no path runs off the end.
        if (program[^1].Code != RetK)
            throw new InvalidBpfProgramException("last instruction is not a return, so a path can run off the end");
    }

    /// <summary>The filter's 32-bit verdict for <paramref name="input"/>.</summary>
    public static uint Run(IReadOnlyList<SockFilter> program, SyscallInput input)
    {
        Validate(program);
        var data = input.ToBytes();
        uint a = 0;
        for (var pc = 0; pc < program.Count; pc++)
        {
            // Offsets are relative to the next instruction; the loop's pc++ supplies the "next".
            var insn = program[pc];
            switch (insn.Code)
            {
                case LdWAbs:
                    a = BinaryPrimitives.ReadUInt32LittleEndian(data.AsSpan((int)insn.K));
                    break;
                case JmpJa:
                    pc += (int)insn.K;
                    break;
                case JmpJeqK:
                    pc += a == insn.K ? insn.Jt : insn.Jf;
                    break;
                case JmpJgtK:
                    pc += a > insn.K ? insn.Jt : insn.Jf;
                    break;
                case JmpJgeK:
                    pc += a >= insn.K ? insn.Jt : insn.Jf;
                    break;
                case JmpJsetK:
                    pc += (a & insn.K) != 0 ? insn.Jt : insn.Jf;
                    break;
                case RetK:
                    return insn.K;
            }
        }
        throw new InvalidBpfProgramException("execution ran off the end of the program");
    }

    /// <summary>Indices of the instructions some input can reach, for spotting mis-aimed labels.</summary>
    public static IReadOnlySet<int> Reachable(IReadOnlyList<SockFilter> program)
    {
        Validate(program);
        var reached = new SortedSet<int>();
        var pending = new Stack<int>([0]);
        while (pending.TryPop(out var pc))
        {
            if (!reached.Add(pc))
                continue;
            var insn = program[pc];
            switch (insn.Code)
            {
                case RetK:
                    break;
                case JmpJa:
                    pending.Push(pc + 1 + (int)insn.K);
                    break;
                case JmpJeqK or JmpJgtK or JmpJgeK or JmpJsetK:
                    pending.Push(pc + 1 + insn.Jt);
                    pending.Push(pc + 1 + insn.Jf);
                    break;
                default:
                    pending.Push(pc + 1);
                    break;
            }
        }
        return reached;
    }
}
