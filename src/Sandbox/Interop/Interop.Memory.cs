using System.Runtime.InteropServices;
using Tmds.Linux;

namespace AutoReview.Sandbox.Interop;

/// <summary>Mapping the child-side machine code: written while RW, then made RX (never both).</summary>
internal static unsafe class MemoryInterop
{
    private const int PROT_READ = 1, PROT_WRITE = 2, PROT_EXEC = 4;
    private const int MAP_PRIVATE = 2, MAP_ANONYMOUS = 0x20;

    public static void* MapExecutable(ReadOnlySpan<byte> code)
    {
        var size = (size_t)((code.Length + 4095) & ~4095);
        void* mem = LibC.mmap(null, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (mem == (void*)-1)
            throw new SyscallException("mmap", Marshal.GetLastPInvokeError());
        code.CopyTo(new Span<byte>(mem, code.Length));
        if (LibC.mprotect(mem, size, PROT_READ | PROT_EXEC) != 0)
            throw new SyscallException("mprotect", Marshal.GetLastPInvokeError());
        return mem;
    }
}
