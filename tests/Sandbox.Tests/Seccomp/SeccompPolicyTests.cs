using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using AutoReview.Sandbox.Interop;
using AutoReview.Sandbox.Seccomp;
using Shouldly;
using Xunit;

namespace AutoReview.Sandbox.Tests.Seccomp;

/// <summary>
/// The policy against the escapes it exists to stop. Expected verdicts are the kernel's literal values, not the
/// constants in <see cref="SeccompReturn"/>, so a wrong constant there fails here.
/// </summary>
public class SeccompPolicyTests
{
    private const uint Allow = 0x7fff0000;
    private const uint KillProcess = 0x80000000;
    private static uint ErrnoVerdict(int errno) => 0x00050000u | (uint)errno;

    private const ulong CloneNewNs = 0x00020000;
    private const ulong CloneNewUser = 0x10000000;
    private const ulong GlibcThreadFlags = 0x3d0f00; // CLONE_VM|FS|FILES|SIGHAND|THREAD|SYSVSEM|SETTLS|PARENT_SETTID|CHILD_CLEARTID
    private const ulong Sigchld = 17;
    private const ulong GlibcForkFlags = 0x01200000 | Sigchld; // CLONE_CHILD_SETTID|CLONE_CHILD_CLEARTID|SIGCHLD

    private static readonly IReadOnlyList<SockFilter> Program = SeccompPolicy.Assemble();

    private static uint Verdict(SyscallNumber nr, params ulong[] args) =>
        ClassicBpfInterpreter.Run(Program, SyscallInput.X86_64((uint)nr, args));

    // --- Foreign ABIs: the deny-list only means something in the x86-64 numbering. ---

    [Theory]
    [InlineData(SyscallInput.AuditArchI386, 11u)]   // i386 execve via int 0x80
    [InlineData(SyscallInput.AuditArchI386, 310u)]  // i386 unshare, not x86-64's 272
    [InlineData(SyscallInput.AuditArchI386, 0u)]
    public void I386Arch_KillsProcess(uint arch, uint nr) =>
        ClassicBpfInterpreter.Run(Program, new SyscallInput(nr, arch, 0, [])).ShouldBe(KillProcess);

    [Theory]
    [InlineData(SyscallInput.AuditArchAarch64)]
    [InlineData(0u)]
    [InlineData(0xC000003Fu)]
    public void AnyOtherArch_KillsProcess(uint arch) =>
        ClassicBpfInterpreter.Run(Program, new SyscallInput((uint)SyscallNumber.Write, arch, 0, [])).ShouldBe(KillProcess);

    [Theory]
    [InlineData(0x40000000u)]        // x32 read: exactly the bit, which JGT would miss
    [InlineData(0x40000000u | 1)]    // x32 write
    [InlineData(0x40000000u | 165)]  // x32 mount
    [InlineData(0x40000000u | 272)]  // x32 unshare
    [InlineData(0x40000000u | 520)]  // x32-only execve
    [InlineData(0x7fffffffu)]
    [InlineData(0xffffffffu)]        // nr -1
    public void X32AbiSyscall_IsDenied(uint nr) =>
        ClassicBpfInterpreter.Run(Program, SyscallInput.X86_64(nr)).ShouldBe(ErrnoVerdict(Errno.EPERM));

    // --- New namespaces would give the payload a fresh, fully privileged user namespace. ---

    [Fact]
    public void Clone3_ReturnsEnosys_SoLibcFallsBackToInspectableClone() =>
        Verdict(SyscallNumber.Clone3).ShouldBe(ErrnoVerdict(Errno.ENOSYS));

    [Fact]
    public void CloneWithNewUserFlag_IsDenied() =>
        Verdict(SyscallNumber.Clone, CloneNewUser | Sigchld).ShouldBe(ErrnoVerdict(Errno.EPERM));

    [Theory]
    [InlineData(0x00020000ul)] // CLONE_NEWNS
    [InlineData(0x02000000ul)] // CLONE_NEWCGROUP
    [InlineData(0x04000000ul)] // CLONE_NEWUTS
    [InlineData(0x08000000ul)] // CLONE_NEWIPC
    [InlineData(0x10000000ul)] // CLONE_NEWUSER
    [InlineData(0x20000000ul)] // CLONE_NEWPID
    [InlineData(0x40000000ul)] // CLONE_NEWNET
    public void CloneWithAnyNamespaceFlag_IsDenied(ulong namespaceFlag)
    {
        Verdict(SyscallNumber.Clone, namespaceFlag | Sigchld).ShouldBe(ErrnoVerdict(Errno.EPERM));
        Verdict(SyscallNumber.Clone, namespaceFlag | GlibcThreadFlags).ShouldBe(ErrnoVerdict(Errno.EPERM));
        Verdict(SyscallNumber.Clone, namespaceFlag | 0xffffffff00000000).ShouldBe(ErrnoVerdict(Errno.EPERM));
    }

    [Fact]
    public void PlainThreadClone_IsAllowed() => Verdict(SyscallNumber.Clone, GlibcThreadFlags).ShouldBe(Allow);

    [Theory]
    [InlineData(Sigchld)]
    [InlineData(GlibcForkFlags)]
    public void PlainForkClone_IsAllowed(ulong flags) => Verdict(SyscallNumber.Clone, flags).ShouldBe(Allow);

    [Fact]
    public void CloneExitSignalByte_IsNotMistakenForNewTime() =>
        Verdict(SyscallNumber.Clone, GlibcThreadFlags | 0xff).ShouldBe(Allow);

    [Fact]
    public void CloneNamespaceBitsAboveLow32_AreIgnoredAsTheKernelIgnoresThem() =>
        Verdict(SyscallNumber.Clone, (CloneNewUser << 32) | (CloneNewNs << 32) | Sigchld).ShouldBe(Allow);

    [Fact]
    public void UnshareAndSetns_AreDeniedOutright()
    {
        Verdict(SyscallNumber.Unshare, CloneNewUser).ShouldBe(ErrnoVerdict(Errno.EPERM));
        Verdict(SyscallNumber.Unshare, 0).ShouldBe(ErrnoVerdict(Errno.EPERM));
        Verdict(SyscallNumber.Setns, 3, 0).ShouldBe(ErrnoVerdict(Errno.EPERM));
    }

    // --- Terminal injection: typing into a shared tty outside the sandbox. ---

    [Fact]
    public void Tiocsti_IsDenied() => Verdict(SyscallNumber.Ioctl, 0, 0x5412).ShouldBe(ErrnoVerdict(Errno.EPERM));

    [Theory]
    [InlineData(0x0000000100005412ul)]
    [InlineData(0xdeadbeef00005412ul)]
    [InlineData(0xffffffff00005412ul)]
    public void TiocstiWithHighBitsSet_IsStillDenied(ulong command) =>
        Verdict(SyscallNumber.Ioctl, 0, command).ShouldBe(ErrnoVerdict(Errno.EPERM));

    [Theory]
    [InlineData(0x541Cul)]
    [InlineData(0xffffffff0000541Cul)]
    public void Tioclinux_IsDenied(ulong command) =>
        Verdict(SyscallNumber.Ioctl, 0, command).ShouldBe(ErrnoVerdict(Errno.EPERM));

    [Theory]
    [InlineData(0x5401ul)]              // TCGETS
    [InlineData(0x5413ul)]              // TIOCGWINSZ, next to TIOCSTI
    [InlineData(0x5411ul)]              // TIOCOUTQ, next to TIOCSTI
    [InlineData(0x541Bul)]              // FIONREAD, next to TIOCLINUX
    [InlineData(0x0000541200000000ul)]  // TIOCSTI only in the high word, which the kernel drops
    public void OrdinaryIoctl_IsAllowed(ulong command) =>
        Verdict(SyscallNumber.Ioctl, 0, command).ShouldBe(Allow);

    [Fact]
    public void IoctlOnTiocstiValuedFd_IsAllowed_OnlyTheCommandMatters() =>
        Verdict(SyscallNumber.Ioctl, 0x5412, 0x5401).ShouldBe(Allow);

    // --- personality: ADDR_NO_RANDOMIZE and friends weaken what the payload executes next. ---

    [Fact]
    public void Personality_ReadOnlyQueryAllowed_AddrNoRandomizeDenied()
    {
        Verdict(SyscallNumber.Personality, 0xffffffff).ShouldBe(Allow);
        Verdict(SyscallNumber.Personality, 0).ShouldBe(Allow);
        Verdict(SyscallNumber.Personality, 0x0040000).ShouldBe(ErrnoVerdict(Errno.EPERM));
    }

    [Theory]
    [InlineData(0x0400000ul)]   // READ_IMPLIES_EXEC
    [InlineData(0x0200000ul)]   // ADDR_COMPAT_LAYOUT
    [InlineData(0x0000008ul)]   // PER_LINUX32
    [InlineData(0xfffffffeul)]
    public void Personality_OtherPersonas_AreDenied(ulong persona) =>
        Verdict(SyscallNumber.Personality, persona).ShouldBe(ErrnoVerdict(Errno.EPERM));

    [Fact]
    public void Personality_HighWordIsIgnoredAsTheKernelIgnoresIt()
    {
        Verdict(SyscallNumber.Personality, 0xffffffff00000000).ShouldBe(Allow);
        Verdict(SyscallNumber.Personality, 0x0000000100040000).ShouldBe(ErrnoVerdict(Errno.EPERM));
    }

    // --- The deny-list. ---

    public static TheoryData<string> DeniedNames => new(SeccompPolicy.Denied.Select(d => d.Name));

    [Theory]
    [MemberData(nameof(DeniedNames))]
    public void DeniedSyscall_FailsWithItsErrno_WhateverTheArguments(string name)
    {
        var denied = SeccompPolicy.Denied.Single(d => d.Name == name);
        Verdict(denied.Number).ShouldBe(ErrnoVerdict(denied.Errno));
        Verdict(denied.Number, ulong.MaxValue, ulong.MaxValue, ulong.MaxValue, ulong.MaxValue, ulong.MaxValue, ulong.MaxValue)
            .ShouldBe(ErrnoVerdict(denied.Errno));
    }

    [Fact]
    public void Denied_CoversTheThreatModel()
    {
        string[] eperm =
        [
            "mount", "umount2", "pivot_root", "open_tree", "open_tree_attr", "move_mount", "fsopen", "fsconfig",
            "fsmount", "fspick", "mount_setattr", "unshare", "setns", "keyctl", "add_key", "request_key", "bpf",
            "perf_event_open", "userfaultfd", "kexec_load", "kexec_file_load", "init_module", "finit_module",
            "delete_module", "ptrace", "process_vm_readv", "process_vm_writev", "io_uring_setup", "io_uring_enter",
            "io_uring_register", "open_by_handle_at", "name_to_handle_at", "swapon", "swapoff", "reboot", "acct",
            "syslog", "chroot", "quotactl", "lookup_dcookie", "vhangup", "iopl", "ioperm", "uselib", "nfsservctl",
            "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "kcmp", "pidfd_getfd", "process_madvise",
            "sethostname", "setdomainname",
        ];
        var expected = eperm.Select(n => (n, Errno.EPERM)).Append(("clone3", Errno.ENOSYS)).Order();

        SeccompPolicy.Denied.Select(d => (d.Name, d.Errno)).Order().ShouldBe(expected);
    }

    [Fact]
    public void Denied_NamesMatchTheirSyscallNumbers()
    {
        foreach (var denied in SeccompPolicy.Denied)
            denied.Name.Replace("_", "").ShouldBe(denied.Number.ToString(), StringCompareShould.IgnoreCase);
    }

    [Fact]
    public void Denied_NumbersAreDistinctAndNotTheArgumentCheckedOnes()
    {
        var numbers = SeccompPolicy.Denied.Select(d => d.Number).ToList();
        numbers.ShouldBeUnique();
        numbers.ShouldNotContain(SyscallNumber.Clone);
        numbers.ShouldNotContain(SyscallNumber.Ioctl);
        numbers.ShouldNotContain(SyscallNumber.Personality);
    }

    [Fact]
    public void Denied_EachHasAOneLineReason()
    {
        foreach (var denied in SeccompPolicy.Denied)
        {
            denied.Reason.ShouldNotBeNullOrWhiteSpace(denied.Name);
            denied.Reason.ShouldNotContain('\n', customMessage: denied.Name);
        }
    }

    [Theory]
    [InlineData(nameof(SyscallNumber.Read))]
    [InlineData(nameof(SyscallNumber.Write))]
    [InlineData(nameof(SyscallNumber.Openat))]
    [InlineData(nameof(SyscallNumber.Mmap))]
    [InlineData(nameof(SyscallNumber.Execve))]
    [InlineData(nameof(SyscallNumber.ExitGroup))]
    [InlineData(nameof(SyscallNumber.Socket))]
    [InlineData(nameof(SyscallNumber.Connect))]
    [InlineData(nameof(SyscallNumber.Fork))]
    [InlineData(nameof(SyscallNumber.Vfork))]
    [InlineData(nameof(SyscallNumber.Wait4))]
    [InlineData(nameof(SyscallNumber.Prctl))]
    [InlineData(nameof(SyscallNumber.Seccomp))]
    [InlineData(nameof(SyscallNumber.PidfdOpen))]
    [InlineData(nameof(SyscallNumber.CloseRange))]
    public void OrdinarySyscall_IsAllowed(string name)
    {
        var nr = Enum.Parse<SyscallNumber>(name);
        Verdict(nr).ShouldBe(Allow);
        Verdict(nr, ulong.MaxValue, ulong.MaxValue, ulong.MaxValue, ulong.MaxValue, ulong.MaxValue, ulong.MaxValue).ShouldBe(Allow);
    }

    [Fact]
    public void HighestOrdinarySyscallNumber_IsAllowed() =>
        ClassicBpfInterpreter.Run(Program, SyscallInput.X86_64(0x3fffffff)).ShouldBe(Allow);

    // --- The program as the kernel will load it. ---

    [Fact]
    public void Program_IsDeterministic() =>
        Bpf.ToBytes(SeccompPolicy.Assemble()).ShouldBe(Bpf.ToBytes(SeccompPolicy.Assemble()));

    [Fact]
    public void Program_FitsTheKernelLimit() => Program.Count.ShouldBeLessThanOrEqualTo(4096);

    [Fact]
    public void Program_PassesTheKernelLoaderChecks_SoNoPathRunsOffTheEnd() =>
        Should.NotThrow(() => ClassicBpfInterpreter.Validate(Program));

    [Fact]
    public void Program_HasNoUnreachableInstructions() =>
        ClassicBpfInterpreter.Reachable(Program).Count.ShouldBe(Program.Count);

    [Fact]
    public void Program_ChecksArchBeforeReadingTheSyscallNumber()
    {
        Program[0].ShouldBe(new SockFilter(0x20, 0, 0, 4));             // A = seccomp_data.arch
        Program[1].Code.ShouldBe((ushort)0x15);                          // if A == AUDIT_ARCH_X86_64
        Program[1].K.ShouldBe(0xC000003Eu);
        Program[1].Jt.ShouldBe((byte)0);                                  // then carry on
        Program[2 + Program[1].Jf].ShouldBe(new SockFilter(0x06, 0, 0, KillProcess)); // else kill
        Program[2].ShouldBe(new SockFilter(0x20, 0, 0, 0));               // only now A = seccomp_data.nr
    }
}

/// <summary>The constants in Bpf.cs against the kernel ABI's literal values.</summary>
public class BpfEncodingTests
{
    [Fact]
    public void Opcodes_MatchTheKernelHeaders()
    {
        Bpf.LdWAbs.ShouldBe((ushort)0x20);
        Bpf.JeqK.ShouldBe((ushort)0x15);
        Bpf.JgeK.ShouldBe((ushort)0x35);
        Bpf.JsetK.ShouldBe((ushort)0x45);
        Bpf.RetK.ShouldBe((ushort)0x06);
        Bpf.MaxInstructions.ShouldBe(4096);
    }

    [Fact]
    public void SeccompDataOffsets_MatchTheStructLayout()
    {
        SeccompData.Nr.ShouldBe(0u);
        SeccompData.Arch.ShouldBe(4u);
        SeccompData.InstructionPointer.ShouldBe(8u);
        for (var i = 0; i < 6; i++)
        {
            SeccompData.ArgLow(i).ShouldBe((uint)(16 + 8 * i));
            SeccompData.ArgHigh(i).ShouldBe((uint)(20 + 8 * i));
        }
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(6)]
    public void SeccompDataArgument_OutOfRange_Throws(int index)
    {
        Should.Throw<ArgumentOutOfRangeException>(() => SeccompData.ArgLow(index));
        Should.Throw<ArgumentOutOfRangeException>(() => SeccompData.ArgHigh(index));
    }

    [Fact]
    public void ReturnValues_MatchTheKernelHeaders()
    {
        SeccompReturn.KillProcess.ShouldBe(0x80000000u);
        SeccompReturn.Allow.ShouldBe(0x7fff0000u);
        SeccompReturn.Errno(Errno.EPERM).ShouldBe(0x00050001u);
        SeccompReturn.Errno(Errno.ENOSYS).ShouldBe(0x00050026u);
        SeccompReturn.Errno(4095).ShouldBe(0x00050fffu);
        AuditArch.X86_64.ShouldBe(0xC000003Eu);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(4096)]
    public void ErrnoOutsideWhatTheKernelPassesThrough_Throws(int errno) =>
        Should.Throw<ArgumentOutOfRangeException>(() => SeccompReturn.Errno(errno));

    [Fact]
    public void SockFilter_IsEightBytes() => Unsafe.SizeOf<SockFilter>().ShouldBe(8);

    [Fact]
    public void ToBytes_WritesTheKernelLayout()
    {
        SockFilter[] program = [new(0x15, 0x01, 0x02, 0xC000003E), new(0x06, 0, 0, 0x7fff0000)];

        Bpf.ToBytes(program).ShouldBe(new byte[]
        {
            0x15, 0x00, 0x01, 0x02, 0x3E, 0x00, 0x00, 0xC0,
            0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0x7f,
        });
    }

    [Fact]
    public void ToBytes_MatchesTheStructInMemory()
    {
        var program = SeccompPolicy.Assemble().ToArray();
        Bpf.ToBytes(program).ShouldBe(MemoryMarshal.AsBytes(program.AsSpan()).ToArray());
    }
}

public class BpfAssemblerTests
{
    [Fact]
    public void ForwardLabels_ResolveToOffsetsFromTheNextInstruction()
    {
        var program = new BpfAssembler()
            .LoadWord(0)
            .JumpIfEqual(7, ifTrue: "seven", ifFalse: "other")
            .Return(1)
            .Label("other").Return(2)
            .Label("seven").Return(3)
            .Build();

        program[1].ShouldBe(new SockFilter(0x15, 2, 1, 7));
        ClassicBpfInterpreter.Run(program, SyscallInput.X86_64(7)).ShouldBe(3u);
        ClassicBpfInterpreter.Run(program, SyscallInput.X86_64(8)).ShouldBe(2u);
    }

    [Fact]
    public void OmittedTarget_FallsThroughToTheNextInstruction()
    {
        var program = new BpfAssembler()
            .LoadWord(0)
            .JumpIfAnySet(0x4, ifTrue: null, ifFalse: "clear")
            .Return(1)
            .Label("clear").Return(0)
            .Build();

        program[1].ShouldBe(new SockFilter(0x45, 0, 1, 0x4));
    }

    [Fact]
    public void JumpOf255_IsEncoded() => JumpOver(255).Build()[1].Jt.ShouldBe((byte)255);

    [Fact]
    public void JumpOf256_Throws_BecauseJtJfAreEightBits() =>
        Should.Throw<InvalidOperationException>(() => JumpOver(256).Build()).Message.ShouldContain("spans 256");

    [Fact]
    public void UndefinedLabel_Throws() =>
        Should.Throw<InvalidOperationException>(() =>
            new BpfAssembler().LoadWord(0).JumpIfEqual(1, ifTrue: "nowhere").Return(0).Build()).Message.ShouldContain("nowhere");

    [Fact]
    public void BackwardJump_Throws()
    {
        var asm = new BpfAssembler().Label("top").LoadWord(0).JumpIfEqual(1, ifTrue: "top").Return(0);
        Should.Throw<InvalidOperationException>(() => asm.Build()).Message.ShouldContain("backwards");
    }

    [Fact]
    public void JumpToItself_Throws()
    {
        var asm = new BpfAssembler().LoadWord(0).Label("self").JumpIfEqual(1, ifTrue: "self").Return(0);
        Should.Throw<InvalidOperationException>(() => asm.Build()).Message.ShouldContain("backwards");
    }

    [Fact]
    public void DuplicateLabel_Throws() =>
        Should.Throw<InvalidOperationException>(() => new BpfAssembler().Label("a").Return(0).Label("a"));

    [Fact]
    public void LabelWithNoInstructionAfterIt_Throws() =>
        Should.Throw<InvalidOperationException>(() => new BpfAssembler().Return(0).Label("end").Build());

    [Fact]
    public void EmptyProgram_Throws() => Should.Throw<InvalidOperationException>(() => new BpfAssembler().Build());

    [Fact]
    public void ProgramNotEndingInReturn_Throws() =>
        Should.Throw<InvalidOperationException>(() => new BpfAssembler().Return(0).LoadWord(0).Build());

    [Fact]
    public void ProgramOverTheKernelLimit_Throws()
    {
        var asm = new BpfAssembler();
        for (var i = 0; i < 4097; i++)
            asm.Return(0);
        Should.Throw<InvalidOperationException>(() => asm.Build()).Message.ShouldContain("4096");
    }

    [Fact]
    public void ProgramAtTheKernelLimit_Builds()
    {
        var asm = new BpfAssembler();
        for (var i = 0; i < 4096; i++)
            asm.Return(0);
        asm.Build().Count.ShouldBe(4096);
    }

    /// <summary>A branch whose true target is <paramref name="distance"/> instructions past the next one.</summary>
    private static BpfAssembler JumpOver(int distance)
    {
        var asm = new BpfAssembler().LoadWord(0).JumpIfEqual(1, ifTrue: "far");
        for (var i = 0; i < distance; i++)
            asm.Return(0);
        return asm.Label("far").Return(1);
    }
}

/// <summary>The interpreter is the policy's only judge in unit tests, so it is held to the kernel's rules too.</summary>
public class ClassicBpfInterpreterTests
{
    private static SockFilter Ld(uint k) => new(0x20, 0, 0, k);
    private static SockFilter Ret(uint k) => new(0x06, 0, 0, k);
    private static SockFilter Jump(ushort code, uint k, byte jt, byte jf) => new(code, jt, jf, k);

    [Theory]
    [InlineData(0u, 0x11111111u)]
    [InlineData(4u, 0x22222222u)]
    [InlineData(8u, 0x44444444u)]   // instruction_pointer, low word
    [InlineData(12u, 0x33333333u)]  // instruction_pointer, high word
    [InlineData(16u, 0x66666666u)]  // args[0], low word
    [InlineData(20u, 0x55555555u)]  // args[0], high word
    [InlineData(56u, 0xbbbbbbbbu)]  // args[5], low word
    [InlineData(60u, 0xaaaaaaaau)]  // args[5], high word
    public void Load_ReadsSeccompDataLittleEndian(uint offset, uint expected)
    {
        var input = new SyscallInput(0x11111111, 0x22222222, 0x33333333_44444444,
            [0x55555555_66666666, 0, 0, 0, 0, 0xaaaaaaaa_bbbbbbbb]);
        SockFilter[] program = [Ld(offset), Jump(0x15, expected, 0, 1), Ret(1), Ret(0)];

        ClassicBpfInterpreter.Run(program, input).ShouldBe(1u);
    }

    [Theory]
    [InlineData(0x15, 5u, 5u, true)]
    [InlineData(0x15, 5u, 6u, false)]
    [InlineData(0x25, 6u, 5u, true)]
    [InlineData(0x25, 5u, 5u, false)]
    [InlineData(0x35, 5u, 5u, true)]
    [InlineData(0x35, 4u, 5u, false)]
    [InlineData(0x35, 0xffffffffu, 0x40000000u, true)] // unsigned
    [InlineData(0x45, 0x6u, 0x2u, true)]
    [InlineData(0x45, 0x6u, 0x9u, false)]
    public void ConditionalJumps_CompareTheAccumulatorWithK(ushort code, uint a, uint k, bool taken)
    {
        SockFilter[] program = [Ld(0), Jump(code, k, 1, 0), Ret(0), Ret(1)];
        ClassicBpfInterpreter.Run(program, SyscallInput.X86_64(a)).ShouldBe(taken ? 1u : 0u);
    }

    [Fact]
    public void Ja_JumpsUnconditionally()
    {
        SockFilter[] program = [new(0x05, 0, 0, 2), Ret(0), Ret(1), Ret(2)];
        ClassicBpfInterpreter.Run(program, SyscallInput.X86_64(0)).ShouldBe(2u);
    }

    [Fact]
    public void UnknownOpcode_IsRejected() =>
        Should.Throw<InvalidBpfProgramException>(() => ClassicBpfInterpreter.Validate([new(0xff, 0, 0, 0), Ret(0)]));

    [Fact]
    public void ConditionalJumpPastTheEnd_IsRejected()
    {
        Should.Throw<InvalidBpfProgramException>(() => ClassicBpfInterpreter.Validate([Ld(0), Jump(0x15, 0, 1, 0), Ret(0)]));
        Should.Throw<InvalidBpfProgramException>(() => ClassicBpfInterpreter.Validate([Ld(0), Jump(0x15, 0, 0, 1), Ret(0)]));
    }

    [Fact]
    public void JaPastTheEnd_IsRejected() =>
        Should.Throw<InvalidBpfProgramException>(() => ClassicBpfInterpreter.Validate([new(0x05, 0, 0, 1), Ret(0)]));

    [Fact]
    public void ProgramThatCanRunOffTheEnd_IsRejected() =>
        Should.Throw<InvalidBpfProgramException>(() => ClassicBpfInterpreter.Validate([Ld(0), Jump(0x15, 0, 0, 0), Ld(0)]));

    [Theory]
    [InlineData(2u)]
    [InlineData(64u)]
    [InlineData(0xfffffffcu)]
    public void LoadOutsideAlignedSeccompData_IsRejected(uint offset) =>
        Should.Throw<InvalidBpfProgramException>(() => ClassicBpfInterpreter.Validate([Ld(offset), Ret(0)]));

    [Fact]
    public void EmptyProgram_IsRejected() =>
        Should.Throw<InvalidBpfProgramException>(() => ClassicBpfInterpreter.Validate([]));

    [Fact]
    public void ProgramOverTheKernelLimit_IsRejected() =>
        Should.Throw<InvalidBpfProgramException>(() => ClassicBpfInterpreter.Validate(Enumerable.Repeat(Ret(0), 4097).ToList()));

    [Fact]
    public void Reachable_SkipsInstructionsNoBranchLeadsTo()
    {
        SockFilter[] program = [Ld(0), Jump(0x15, 1, 1, 1), Ret(0), Ret(1)];
        ClassicBpfInterpreter.Reachable(program).ShouldBe([0, 1, 3]);
    }
}
