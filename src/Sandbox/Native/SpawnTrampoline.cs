using AutoReview.Sandbox.Interop;

namespace AutoReview.Sandbox.Native;

/// <summary>Calls the machine code of spawn-x86_64.S. Mapped once per process, RX, never writable again.</summary>
internal static unsafe class SpawnTrampoline
{
    private static readonly delegate* unmanaged<SpawnBlock*, long> Entry =
        (delegate* unmanaged<SpawnBlock*, long>)MemoryInterop.MapExecutable(SpawnTrampolineCode.Bytes);

    /// <summary>
    /// Clones the child and starts it on the program. Returns the child's pid (its pidfd is in the block),
    /// or -errno when clone itself failed. The calling thread must outlive the child: the child's
    /// PR_SET_PDEATHSIG is tied to this thread, not to the process.
    /// </summary>
    public static long Spawn(SpawnBlock* block) => Entry(block);
}
