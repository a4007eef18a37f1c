namespace AutoReview.Cli;

/// <summary>Exit codes, following the conventions of container runtimes and shells.</summary>
internal static class ExitCodes
{
    public const int Ok = 0;
    /// <summary>Findings at or above the failure threshold (review), or a failed check (doctor, probe).</summary>
    public const int Findings = 1;
    /// <summary>The command line was wrong.</summary>
    public const int Usage = 2;
    /// <summary>Any other failure (a file that cannot be read or written), reported in one line.</summary>
    public const int Error = 3;
    /// <summary>The sandbox could not be set up (as podman/docker use 125).</summary>
    public const int SandboxFailed = 125;
    /// <summary>The command was found but could not be executed.</summary>
    public const int CannotExecute = 126;
    /// <summary>The command was not found inside the sandbox.</summary>
    public const int NotFound = 127;
}
