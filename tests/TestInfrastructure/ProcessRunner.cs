using System.Diagnostics;
using System.Text;

namespace AutoReview.TestInfrastructure;

/// <summary>How a command ended: its exit code and everything it wrote.</summary>
public sealed record ProcessResult(string CommandLine, int ExitCode, string Stdout, string Stderr)
{
    public bool Succeeded => ExitCode == 0;

    public override string ToString() => $"{CommandLine}: exit {ExitCode}\n--- stdout\n{Stdout}\n--- stderr\n{Stderr}";
}

/// <summary>Runs a program to completion with an exact environment and a hard time limit.</summary>
public static class ProcessRunner
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Runs <paramref name="file"/> with exactly <paramref name="environment"/> (nothing inherited), stdin closed.
    /// On timeout or cancellation the whole process tree is killed and the call throws.
    /// </summary>
    public static async Task<ProcessResult> RunAsync(
        string file,
        IEnumerable<string> arguments,
        IReadOnlyDictionary<string, string> environment,
        string? workingDirectory,
        TimeSpan? timeout = null,
        CancellationToken cancellationToken = default)
    {
        var start = new ProcessStartInfo(file)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? "",
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        foreach (string argument in arguments)
            start.ArgumentList.Add(argument);
        start.Environment.Clear();
        foreach ((string name, string value) in environment)
            start.Environment[name] = value;

        string commandLine = string.Join(' ', [file, .. start.ArgumentList.Select(Quote)]);
        TimeSpan limit = timeout ?? DefaultTimeout;
        using var process = new Process { StartInfo = start };
        if (!process.Start())
            throw new InvalidOperationException($"could not start {commandLine}");
        process.StandardInput.Close();
        Task<string> stdout = process.StandardOutput.ReadToEndAsync(CancellationToken.None);
        Task<string> stderr = process.StandardError.ReadToEndAsync(CancellationToken.None);

        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(limit);
        try
        {
            await process.WaitForExitAsync(deadline.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            KillTree(process);
            string partialErr = await CollectAfterKill(stderr).ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();
            throw new TimeoutException($"{commandLine} did not finish within {limit.TotalSeconds:0.#} s and was killed; stderr so far:\n{partialErr}");
        }
        try
        {
            // A descendant that outlived the process could hold the pipes open: bound the wait for their end too.
            await Task.WhenAll(stdout, stderr).WaitAsync(TimeSpan.FromSeconds(10), CancellationToken.None).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"{commandLine} exited {process.ExitCode} but a process it left behind kept its output open");
        }
        return new ProcessResult(commandLine, process.ExitCode, await stdout.ConfigureAwait(false), await stderr.ConfigureAwait(false));
    }

    /// <summary>Kills the process and its descendants; a process that already exited is not an error.</summary>
    public static void KillTree(Process process)
    {
        try
        {
            process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // already exited
        }
    }

    /// <summary>The absolute path of <paramref name="program"/> found on PATH, or an exception saying it is missing.</summary>
    public static string FindOnPath(string program)
    {
        string path = Environment.GetEnvironmentVariable("PATH") ?? "/usr/local/bin:/usr/bin:/bin";
        foreach (string dir in path.Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            string candidate = Path.Combine(dir, program);
            if (File.Exists(candidate))
                return candidate;
        }
        throw new FileNotFoundException($"'{program}' was not found on PATH ({path}); the test infrastructure runs the real program");
    }

    private static async Task<string> CollectAfterKill(Task<string> output)
    {
        // After a kill the pipe closes soon; don't let a grandchild that kept it open hold us.
        Task finished = await Task.WhenAny(output, Task.Delay(TimeSpan.FromSeconds(5))).ConfigureAwait(false);
        return finished == output ? await output.ConfigureAwait(false) : "(unavailable: the pipe stayed open)";
    }

    private static string Quote(string argument) =>
        argument.Length > 0 && argument.All(c => char.IsAsciiLetterOrDigit(c) || "-_./=:,@+%".Contains(c))
            ? argument
            : "'" + argument.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
}
