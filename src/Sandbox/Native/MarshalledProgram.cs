using System.Runtime.InteropServices;
using System.Text;

namespace AutoReview.Sandbox.Native;

/// <summary>The spawn block that spawn-x86_64.S reads; field offsets are fixed by that file.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct SpawnBlock
{
    public ulong CloneFlags;
    public long Pidfd;
    public nint Ops;
    public long OpCount;
    public ulong AllSignals;
    public nint PayloadStackTop;
    public long StatusFd;
    public ulong SavedMask;
    public long SavedResult;
    public long PayloadPid;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct NativeOp
{
    public long Number;
    public fixed long Args[6];
    public long Flags;
}

/// <summary>
/// A <see cref="ChildProgram"/> laid out in one block of native memory: spawn block, op array, the
/// payload's stack, then every string and buffer the ops point at. Built entirely before clone, so the
/// child only reads memory that already exists; it gets its own copy at clone (fork semantics), so the
/// parent frees this as soon as clone has returned.
/// </summary>
internal sealed unsafe class MarshalledProgram : IDisposable
{
    public const int StatusFd = 3;
    private const int PayloadStackSize = 16 * 1024;

    private byte* _memory;
    private readonly nuint _size;
    private nuint _used;

    public MarshalledProgram(ChildProgram program)
    {
        // Reject bad ops before allocating, so a rejected program leaks nothing.
        for (int i = 0; i < program.Ops.Count; i++)
        {
            ChildOp op = program.Ops[i];
            if (op.Args.Count > 6)
                throw new ArgumentException($"op {i} ({op.SyscallName}) has {op.Args.Count} arguments; syscalls take at most 6");
            foreach (string text in op.Args.SelectMany(Strings))
                if (text.Contains('\0'))
                    throw new ArgumentException($"op {i} ({op.SyscallName}): string contains a NUL byte: {text.Replace("\0", "\\0")}");
        }
        _size = (nuint)(sizeof(SpawnBlock) + program.Ops.Count * sizeof(NativeOp) + PayloadStackSize
                        + program.Ops.Sum(op => op.Args.Sum(DataSize)));
        _memory = (byte*)NativeMemory.AllocZeroed(_size);

        Block = (SpawnBlock*)Allocate(sizeof(SpawnBlock));
        var ops = (NativeOp*)Allocate(program.Ops.Count * sizeof(NativeOp));
        byte* stack = Allocate(PayloadStackSize);

        Block->CloneFlags = program.CloneFlags;
        Block->Pidfd = -1;
        Block->Ops = (nint)ops;
        Block->OpCount = program.Ops.Count;
        Block->AllSignals = ulong.MaxValue;
        Block->PayloadStackTop = (nint)(stack + PayloadStackSize);
        Block->StatusFd = StatusFd;

        for (int i = 0; i < program.Ops.Count; i++)
        {
            ChildOp op = program.Ops[i];
            ops[i].Number = op.Number;
            ops[i].Flags = (long)op.Flags;
            for (int a = 0; a < op.Args.Count; a++)
                ops[i].Args[a] = Marshal(op.Args[a]);
        }
    }

    public SpawnBlock* Block { get; }

    public void Dispose()
    {
        if (_memory != null)
        {
            NativeMemory.Free(_memory);
            _memory = null;
        }
    }

    private byte* Allocate(int bytes)
    {
        nuint aligned = (nuint)((bytes + 15) & ~15);
        if (_used + aligned > _size)
            throw new InvalidOperationException("marshalled program overflowed its computed size");
        byte* p = _memory + _used;
        _used += aligned;
        return p;
    }

    private long Marshal(OpArg arg) => arg switch
    {
        OpArg.Int i => i.Value,
        OpArg.Str s => (long)CString(s.Value),
        OpArg.Bytes b => (long)Buffer(b.Value),
        OpArg.StrArray a => (long)StringArray(a.Value),
        OpArg.FilterProgram f => (long)SockFprog(f.Instructions),
        OpArg.FdPassingMessage m => (long)FdPassingMessage(m.Fd, m.Payload),
        _ => throw new ArgumentOutOfRangeException(nameof(arg), arg, "unknown op argument kind"),
    };

    private static int DataSize(OpArg arg) => arg switch
    {
        OpArg.Int => 0,
        OpArg.Str s => Aligned(Encoding.UTF8.GetByteCount(s.Value) + 1),
        OpArg.Bytes b => Aligned(b.Value.Length),
        OpArg.StrArray a => Aligned(8 * (a.Value.Count + 1)) + a.Value.Sum(v => Aligned(Encoding.UTF8.GetByteCount(v) + 1)),
        OpArg.FilterProgram f => Aligned(16) + Aligned(f.Instructions.Length),
        OpArg.FdPassingMessage m => Aligned(MsgHdrSize) + Aligned(16) + Aligned(CmsgSpaceOneFd) + Aligned(m.Payload.Length),
        _ => throw new ArgumentOutOfRangeException(nameof(arg), arg, "unknown op argument kind"),
    };

    private static int Aligned(int bytes) => (bytes + 15) & ~15;

    private static IEnumerable<string> Strings(OpArg arg) => arg switch
    {
        OpArg.Str s => [s.Value],
        OpArg.StrArray a => a.Value,
        _ => [],
    };

    private byte* CString(string value)
    {
        int length = Encoding.UTF8.GetByteCount(value);
        byte* p = Allocate(length + 1);
        Encoding.UTF8.GetBytes(value, new Span<byte>(p, length));
        return p;
    }

    private byte* Buffer(byte[] value)
    {
        byte* p = Allocate(value.Length);
        value.CopyTo(new Span<byte>(p, value.Length));
        return p;
    }

    private byte* StringArray(IReadOnlyList<string> values)
    {
        var pointers = (nint*)Allocate(8 * (values.Count + 1));
        for (int i = 0; i < values.Count; i++)
            pointers[i] = (nint)CString(values[i]);
        return (byte*)pointers;
    }

    private const int MsgHdrSize = 56;
    private const int CmsgSpaceOneFd = 24; // CMSG_SPACE(sizeof(int)) on x86-64

    private byte* FdPassingMessage(int fd, byte[] payload)
    {
        // struct msghdr { name, namelen, iov, iovlen, control, controllen, flags } (56 bytes on x86-64),
        // struct iovec { base, len }, struct cmsghdr { u64 len; int level; int type; } followed by the fd.
        byte* data = Buffer(payload);
        byte* iov = Allocate(16);
        *(nint*)iov = (nint)data;
        *(long*)(iov + 8) = payload.Length;
        byte* control = Allocate(CmsgSpaceOneFd);
        *(long*)control = 16 + sizeof(int);
        *(int*)(control + 8) = Interop.LinuxConstants.SOL_SOCKET;
        *(int*)(control + 12) = Interop.LinuxConstants.SCM_RIGHTS;
        *(int*)(control + 16) = fd;
        byte* msghdr = Allocate(MsgHdrSize);
        *(nint*)(msghdr + 16) = (nint)iov;
        *(long*)(msghdr + 24) = 1;
        *(nint*)(msghdr + 32) = (nint)control;
        *(long*)(msghdr + 40) = CmsgSpaceOneFd;
        return msghdr;
    }

    private byte* SockFprog(byte[] instructions)
    {
        // struct sock_fprog { unsigned short len; struct sock_filter *filter; }
        byte* fprog = Allocate(16);
        byte* filter = Buffer(instructions);
        *(ushort*)fprog = (ushort)(instructions.Length / 8);
        *(nint*)(fprog + 8) = (nint)filter;
        return fprog;
    }
}
