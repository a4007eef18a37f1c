using System.Runtime.InteropServices;
using System.Text;
using AutoReview.Sandbox.Interop;
using AutoReview.Sandbox.Native;
using Shouldly;
using Xunit;

namespace AutoReview.Sandbox.Tests.Plan;

/// <summary>
/// The native memory that spawn-x86_64.S reads after clone, read back field by field. The child can
/// neither allocate nor report a bad pointer: whatever is wrong here is a crash or a wrong syscall there.
/// </summary>
public sealed unsafe class MarshalledProgramTests
{
    private static readonly byte[] Filter = [0x06, 0, 0, 0, 0, 0, 0xff, 0x7f, 0x06, 0, 0, 0, 0, 0, 0, 0]; // RET ALLOW, RET KILL

    private static ChildProgram Sample() => new(0x1234_5678_9abcUL,
    [
        new(SetupStep.PrepareChild, "ints", (long)SyscallNumber.Dup3, [17L, 3L, (long)LinuxConstants.O_CLOEXEC]),
        new(SetupStep.BindMount, "strings", (long)SyscallNumber.Mount, ["/wörk/ü", "/srv/rootfs/work", 0L, 4096L, 0L], OpFlags.IgnoreError),
        new(SetupStep.WriteUidMap, "bytes", (long)SyscallNumber.Write, [0L, new OpArg.Bytes("65532 1000 1\n"u8.ToArray()), 13L], OpFlags.Arg0FromSaved | OpFlags.SaveResult),
        new(SetupStep.SpawnPayload, "marker", ChildOp.SpawnPayload, []),
        new(SetupStep.InstallSeccomp, "filter", (long)SyscallNumber.Seccomp, [1L, 0L, new OpArg.FilterProgram(Filter)]),
        new(SetupStep.Exec, "exec", (long)SyscallNumber.Execve, ["/bin/sh", new OpArg.StrArray(["sh", "-c", "échø"]), new OpArg.StrArray([])]),
    ]);

    [Fact]
    public void SpawnBlock_CarriesCloneFlags_OpCount_AFullSignalMask_AndStatusFd3()
    {
        ChildProgram program = Sample();
        using var marshalled = new MarshalledProgram(program);
        SpawnBlock* block = marshalled.Block;

        block->CloneFlags.ShouldBe(program.CloneFlags);
        block->OpCount.ShouldBe(program.Ops.Count);
        block->AllSignals.ShouldBe(ulong.MaxValue, "every signal blocked across clone, and waited for by init");
        block->StatusFd.ShouldBe(3);
        block->Pidfd.ShouldBe(-1, "filled in by clone");
        block->SavedResult.ShouldBe(0);
        block->PayloadPid.ShouldBe(0);
        block->Ops.ShouldNotBe(0);
    }

    [Fact]
    public void PayloadStack_Is16ByteAligned_AndLiesBetweenTheOpsAndTheirData()
    {
        // The payload's stack grows down: below it must be nothing the payload still reads (the op array
        // would be overwritten as it runs), and its top must be 16-byte aligned for the x86-64 ABI.
        ChildProgram program = Sample();
        using var marshalled = new MarshalledProgram(program);
        SpawnBlock* block = marshalled.Block;
        long top = block->PayloadStackTop;
        long opsEnd = block->Ops + block->OpCount * sizeof(NativeOp);
        var ops = (NativeOp*)block->Ops;
        var pointers = new List<long>();
        for (int i = 0; i < program.Ops.Count; i++)
            for (int a = 0; a < program.Ops[i].Args.Count; a++)
                if (program.Ops[i].Args[a] is not OpArg.Int)
                    pointers.Add(ops[i].Args[a]);

        (top % 16).ShouldBe(0);
        ((long)block->Ops).ShouldBeGreaterThanOrEqualTo((long)block + sizeof(SpawnBlock));
        (top - opsEnd).ShouldBeGreaterThanOrEqualTo(4096, "room for the payload's stack above the op array");
        pointers.ShouldNotBeEmpty();
        pointers.ShouldAllBe(p => p >= top, "every string and buffer lies above the stack, inside the same allocation");
    }

    [Fact]
    public void EachNativeOp_HasTheNumber_TheFlags_AndTheIntegerArgs()
    {
        ChildProgram program = Sample();
        using var marshalled = new MarshalledProgram(program);
        var ops = (NativeOp*)marshalled.Block->Ops;

        for (int i = 0; i < program.Ops.Count; i++)
        {
            ops[i].Number.ShouldBe(program.Ops[i].Number, $"op {i}");
            ops[i].Flags.ShouldBe((long)program.Ops[i].Flags, $"op {i}");
            for (int a = program.Ops[i].Args.Count; a < 6; a++)
                ops[i].Args[a].ShouldBe(0, $"op {i}: unused arg {a} is zero, not garbage");
        }
        ops[0].Args[0].ShouldBe(17);
        ops[0].Args[1].ShouldBe(3);
        ops[0].Args[2].ShouldBe(LinuxConstants.O_CLOEXEC);
        ops[1].Args[3].ShouldBe(4096);
    }

    [Fact]
    public void Strings_AreNulTerminatedUtf8()
    {
        using var marshalled = new MarshalledProgram(Sample());
        var ops = (NativeOp*)marshalled.Block->Ops;

        ReadCString((nint)ops[1].Args[0]).ShouldBe("/wörk/ü");
        var raw = new ReadOnlySpan<byte>((byte*)ops[1].Args[0], Encoding.UTF8.GetByteCount("/wörk/ü") + 1);
        raw.ToArray().ShouldBe([.. Encoding.UTF8.GetBytes("/wörk/ü"), 0]);
        ReadCString((nint)ops[1].Args[1]).ShouldBe("/srv/rootfs/work");
    }

    [Fact]
    public void StrArray_IsANullTerminatedArrayOfCStrings()
    {
        using var marshalled = new MarshalledProgram(Sample());
        var ops = (NativeOp*)marshalled.Block->Ops;

        var argv = (nint*)ops[5].Args[1];
        ReadCString(argv[0]).ShouldBe("sh");
        ReadCString(argv[1]).ShouldBe("-c");
        ReadCString(argv[2]).ShouldBe("échø");
        argv[3].ShouldBe(0, "argv ends in NULL");
        var envp = (nint*)ops[5].Args[2];
        ((long)envp).ShouldNotBe(0, "an empty envp is a pointer to NULL, not NULL");
        envp[0].ShouldBe(0);
    }

    [Fact]
    public void Bytes_ArePointedAtVerbatim()
    {
        using var marshalled = new MarshalledProgram(Sample());
        var ops = (NativeOp*)marshalled.Block->Ops;

        new ReadOnlySpan<byte>((byte*)ops[2].Args[1], 13).ToArray().ShouldBe("65532 1000 1\n"u8.ToArray());
        ops[2].Args[2].ShouldBe(13);
    }

    [Fact]
    public void FilterProgram_IsASockFprog_PointingAtTheInstructions()
    {
        // struct sock_fprog { unsigned short len; /* 6 bytes padding */ struct sock_filter *filter; }
        using var marshalled = new MarshalledProgram(Sample());
        var ops = (NativeOp*)marshalled.Block->Ops;
        var fprog = (byte*)ops[4].Args[2];

        (*(ushort*)fprog).ShouldBe((ushort)2, "len counts 8-byte instructions, not bytes");
        var filter = *(nint*)(fprog + 8);
        new ReadOnlySpan<byte>((void*)filter, Filter.Length).ToArray().ShouldBe(Filter);
    }

    [Fact]
    public void StringWithNul_IsRejected_ItWouldSilentlyCutThePathTheKernelSees()
    {
        var program = new ChildProgram(0, [new(SetupStep.BindMount, "nul", (long)SyscallNumber.Mount, ["/work\0/../../etc", "/x", 0L, 0L, 0L])]);

        var e = Should.Throw<ArgumentException>(() => new MarshalledProgram(program));
        e.Message.ShouldContain("NUL");
    }

    [Fact]
    public void StrArrayElementWithNul_IsRejected()
    {
        var program = new ChildProgram(0, [new(SetupStep.Exec, "nul", (long)SyscallNumber.Execve, ["/bin/sh", new OpArg.StrArray(["sh", "a\0b"]), new OpArg.StrArray([])])]);

        Should.Throw<ArgumentException>(() => new MarshalledProgram(program));
    }

    [Fact]
    public void OpWithSevenArguments_IsRejected_TheTrampolinePassesSix()
    {
        var program = new ChildProgram(0, [new(SetupStep.PrepareChild, "seven", (long)SyscallNumber.Prctl, [1L, 2L, 3L, 4L, 5L, 6L, 7L])]);

        var e = Should.Throw<ArgumentException>(() => new MarshalledProgram(program));
        e.Message.ShouldContain("7 arguments");
    }

    [Fact]
    public void EveryOpOfARealPlan_RoundTripsThroughNativeMemory()
    {
        var spec = new SandboxSpec
        {
            RootFs = FakeHost.Root,
            Command = ["python3", "-c", "print('ü')"],
            Environment = [KeyValuePair.Create("PATH", "/usr/bin:/bin"), KeyValuePair.Create("LANG", "C.UTF-8")],
            Mounts = [new MountSpec(MountKind.Tmpfs, "/home"), new MountSpec(MountKind.ReadOnlyBind, "/home/u/cfg.toml", "/host/cfg.toml")],
        };
        ChildProgram program = SetupPlan.Build(spec, FakeHost.Typical(), statusWriteFd: 17);
        using var marshalled = new MarshalledProgram(program);
        SpawnBlock* block = marshalled.Block;
        var ops = (NativeOp*)block->Ops;

        block->OpCount.ShouldBe(program.Ops.Count);
        block->CloneFlags.ShouldBe(program.CloneFlags);
        for (int i = 0; i < program.Ops.Count; i++)
        {
            ChildOp op = program.Ops[i];
            ops[i].Number.ShouldBe(op.Number, $"op {i}: {op}");
            ops[i].Flags.ShouldBe((long)op.Flags, $"op {i}: {op}");
            for (int a = 0; a < op.Args.Count; a++)
                ShouldHold(op.Args[a], ops[i].Args[a], $"op {i} arg {a}: {op}");
        }
    }

    // ---- the layout spawn-x86_64.S assumes --------------------------------------------------------------

    [Fact]
    public void SpawnBlockLayout_MatchesTheOffsetsUsedBySpawnAsm()
    {
        // spawn-x86_64.S addresses these as [rbx + N]; a reordered or resized field is a wrong syscall argument.
        var expected = new (string Field, int Offset)[]
        {
            (nameof(SpawnBlock.CloneFlags), 0), (nameof(SpawnBlock.Pidfd), 8), (nameof(SpawnBlock.Ops), 16),
            (nameof(SpawnBlock.OpCount), 24), (nameof(SpawnBlock.AllSignals), 32), (nameof(SpawnBlock.PayloadStackTop), 40),
            (nameof(SpawnBlock.StatusFd), 48), (nameof(SpawnBlock.SavedMask), 56), (nameof(SpawnBlock.SavedResult), 64),
            (nameof(SpawnBlock.PayloadPid), 72),
        };
        SpawnBlock b = default;
        byte* p = (byte*)&b;
        var actual = new Dictionary<string, long>
        {
            [nameof(SpawnBlock.CloneFlags)] = (byte*)&b.CloneFlags - p,
            [nameof(SpawnBlock.Pidfd)] = (byte*)&b.Pidfd - p,
            [nameof(SpawnBlock.Ops)] = (byte*)&b.Ops - p,
            [nameof(SpawnBlock.OpCount)] = (byte*)&b.OpCount - p,
            [nameof(SpawnBlock.AllSignals)] = (byte*)&b.AllSignals - p,
            [nameof(SpawnBlock.PayloadStackTop)] = (byte*)&b.PayloadStackTop - p,
            [nameof(SpawnBlock.StatusFd)] = (byte*)&b.StatusFd - p,
            [nameof(SpawnBlock.SavedMask)] = (byte*)&b.SavedMask - p,
            [nameof(SpawnBlock.SavedResult)] = (byte*)&b.SavedResult - p,
            [nameof(SpawnBlock.PayloadPid)] = (byte*)&b.PayloadPid - p,
        };

        foreach ((string field, int offset) in expected)
        {
            actual[field].ShouldBe(offset, field);
            Marshal.OffsetOf<SpawnBlock>(field).ShouldBe(offset, field);
        }
        sizeof(SpawnBlock).ShouldBe(80);
        typeof(SpawnBlock).GetFields().Length.ShouldBe(expected.Length, "a new field needs its offset here and in the assembly");
    }

    [Fact]
    public void NativeOpLayout_Is64Bytes_NumberAt0_ArgsAt8_FlagsAt56()
    {
        NativeOp op = default;
        byte* p = (byte*)&op;

        sizeof(NativeOp).ShouldBe(64, "the trampoline steps with add r12, 64");
        ((byte*)&op.Number - p).ShouldBe(0);
        ((byte*)op.Args - p).ShouldBe(8);
        ((byte*)&op.Args[5] - p).ShouldBe(48);
        ((byte*)&op.Flags - p).ShouldBe(56);
        Marshal.OffsetOf<NativeOp>(nameof(NativeOp.Flags)).ShouldBe(56);
    }

    [Fact]
    public void OpFlagValues_AndSpawnPayloadMarker_MatchTheAssembly()
    {
        // test qword ptr [r12 + 56], 1 / 2 / 4 and cmp rax, 0x7fff0001 in spawn-x86_64.S.
        ((long)OpFlags.IgnoreError).ShouldBe(1);
        ((long)OpFlags.SaveResult).ShouldBe(2);
        ((long)OpFlags.Arg0FromSaved).ShouldBe(4);
        ChildOp.SpawnPayload.ShouldBe(0x7fff0001);
        Enum.GetValues<SyscallNumber>().ShouldNotContain((SyscallNumber)ChildOp.SpawnPayload, "the marker must not be a real syscall");
    }

    private static void ShouldHold(OpArg arg, long value, string where)
    {
        switch (arg)
        {
            case OpArg.Int i:
                value.ShouldBe(i.Value, where);
                break;
            case OpArg.Str s:
                ReadCString((nint)value).ShouldBe(s.Value, where);
                break;
            case OpArg.Bytes b:
                new ReadOnlySpan<byte>((void*)value, b.Value.Length).ToArray().ShouldBe(b.Value, where);
                break;
            case OpArg.StrArray a:
                var pointers = (nint*)value;
                for (int k = 0; k < a.Value.Count; k++)
                    ReadCString(pointers[k]).ShouldBe(a.Value[k], where);
                pointers[a.Value.Count].ShouldBe(0, where);
                break;
            case OpArg.FilterProgram f:
                (*(ushort*)value).ShouldBe((ushort)(f.Instructions.Length / 8), where);
                new ReadOnlySpan<byte>((void*)*(nint*)(value + 8), f.Instructions.Length).ToArray().ShouldBe(f.Instructions, where);
                break;
            default:
                throw new ShouldAssertException($"{where}: unknown argument kind {arg.GetType().Name}");
        }
    }

    /// <summary>The UTF-8 string up to the first NUL.</summary>
    private static string ReadCString(nint pointer)
    {
        pointer.ShouldNotBe(0);
        var p = (byte*)pointer;
        int length = 0;
        while (p[length] != 0)
            length++;
        return Encoding.UTF8.GetString(p, length);
    }
}
