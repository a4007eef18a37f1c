using static Tmds.Linux.LibC;

namespace AutoReview.Cli.Interop;

/// <summary>Signals for a child process that .NET's Process class can only kill outright.</summary>
internal static class ProcessInterop
{
    /// <summary>Sends <paramref name="signal"/> to <paramref name="pid"/>; false if it has already gone.</summary>
    public static bool Signal(int pid, int signal) => kill(pid, signal) == 0;
}
