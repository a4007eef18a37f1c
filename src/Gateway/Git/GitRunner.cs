using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;

namespace AutoReview.Gateway.Git;

/// <summary>
/// A git command failed, timed out or could not start. Everything in the message is redacted (secrets become
/// <c>[REDACTED]</c>, see <see cref="Redaction"/>) and escaped, so the message is safe to log or show.
/// </summary>
public sealed class GitCommandException(string commandLine, int? exitCode, bool timedOut, string stderrTail, string? detail = null)
    : Exception(Describe(commandLine, exitCode, timedOut, stderrTail, detail))
{
    /// <summary>The command line, redacted.</summary>
    public string CommandLine { get; } = commandLine;

    /// <summary>git's exit code; null if it timed out or did not start.</summary>
    public int? ExitCode { get; } = exitCode;

    public bool TimedOut { get; } = timedOut;

    /// <summary>The end of git's stderr, redacted.</summary>
    public string StderrTail { get; } = stderrTail;

    private static string Describe(string commandLine, int? exitCode, bool timedOut, string stderrTail, string? detail)
    {
        string what = timedOut ? "timed out and was killed" : exitCode is int code ? $"failed with exit code {code}" : "could not run";
        var message = new StringBuilder($"git command {what}: {commandLine}");
        if (detail is not null)
            message.Append(" (").Append(detail).Append(')');
        if (stderrTail.Length > 0)
            message.Append("\n").Append(stderrTail);
        return message.ToString();
    }
}

/// <summary>The output of a git command that succeeded.</summary>
/// <param name="Stdout">Raw stdout, at most the runner's cap.</param>
/// <param name="StdoutTruncated">stdout was longer than the cap; the rest was read and dropped.</param>
/// <param name="Stderr">stderr, redacted, at most the cap.</param>
public sealed record GitResult(int ExitCode, byte[] Stdout, bool StdoutTruncated, string Stderr)
{
    /// <summary>stdout as UTF-8 text (not redacted: it is repository content, not ours).</summary>
    public string StdoutText => Encoding.UTF8.GetString(Stdout);
}

/// <summary>
/// Runs git: argv only (never a shell), the hermetic environment and <c>-c</c> options before every subcommand,
/// stdin closed, a timeout that kills the whole process tree, stdout and stderr captured up to a cap (git keeps
/// being drained past it so it cannot block), and secrets redacted from everything that reaches an exception.
/// </summary>
public sealed class GitRunner
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromMinutes(5);
    public const long DefaultMaxOutputBytes = 64L * 1024 * 1024;
    private const int StderrTailChars = 2000;

    private readonly string[] secrets;

    public GitRunner(string gitPath, HermeticGitEnvironment environment, IEnumerable<string>? secrets = null,
        TimeSpan? timeout = null, long maxOutputBytes = DefaultMaxOutputBytes)
    {
        ArgumentException.ThrowIfNullOrEmpty(gitPath);
        ArgumentNullException.ThrowIfNull(environment);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxOutputBytes);
        GitPath = gitPath;
        Environment = environment;
        Timeout = timeout ?? DefaultTimeout;
        MaxOutputBytes = maxOutputBytes;
        // Longest first, so a secret that contains another is replaced whole.
        this.secrets = (secrets ?? []).Where(s => !string.IsNullOrEmpty(s)).Distinct(StringComparer.Ordinal)
            .OrderByDescending(s => s.Length).ToArray();
    }

    public string GitPath { get; }

    public HermeticGitEnvironment Environment { get; }

    public TimeSpan Timeout { get; }

    public long MaxOutputBytes { get; }

    /// <summary>A runner with the same settings plus more secrets to redact.</summary>
    public GitRunner WithSecrets(IEnumerable<string> more) =>
        new(GitPath, Environment, secrets.Concat(more), Timeout, MaxOutputBytes);

    /// <summary>Replaces every secret, any URL's userinfo and any Bearer credential (<see cref="Redaction"/>).</summary>
    public string Redact(string text) => Redaction.Redact(text, [.. secrets]);

    /// <summary>The full argv (after the git path), as git gets it.</summary>
    public IReadOnlyList<string> BuildArguments(IReadOnlyList<string> arguments) => [.. Environment.ConfigArguments, .. arguments];

    /// <summary>The redacted, printable command line for <paramref name="arguments"/>.</summary>
    public string DescribeCommand(IReadOnlyList<string> arguments) =>
        Printable.Escape(Redact(string.Join(' ', new[] { "git" }.Concat(arguments).Select(Quote))), 1000);

    private static string Quote(string argument) =>
        argument.Length > 0 && argument.All(c => char.IsAsciiLetterOrDigit(c) || "-_./=:@+,^~".Contains(c))
            ? argument
            : "'" + argument.Replace("'", "'\\''", StringComparison.Ordinal) + "'";

    /// <summary>Runs <c>git [-c …] arguments…</c>; a non-zero exit, a timeout or a failure to start throws <see cref="GitCommandException"/>.</summary>
    /// <param name="workingDirectory">The working directory (null: the current one).</param>
    public async Task<GitResult> RunAsync(IReadOnlyList<string> arguments, string? workingDirectory = null, CancellationToken cancellationToken = default)
    {
        GitResult result = await RunUncheckedAsync(arguments, workingDirectory, cancellationToken).ConfigureAwait(false);
        if (result.ExitCode != 0)
            throw new GitCommandException(DescribeCommand(arguments), result.ExitCode, timedOut: false, Tail(result.Stderr));
        return result;
    }

    /// <summary>Like <see cref="RunAsync"/>, but a non-zero exit is returned, not thrown.</summary>
    public async Task<GitResult> RunUncheckedAsync(IReadOnlyList<string> arguments, string? workingDirectory = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(arguments);
        var start = new ProcessStartInfo(GitPath)
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = workingDirectory ?? "",
        };
        foreach (string argument in BuildArguments(arguments))
            start.ArgumentList.Add(argument);
        start.Environment.Clear();
        foreach ((string name, string value) in Environment.Variables)
            start.Environment[name] = value;

        using var process = new Process { StartInfo = start };
        try
        {
            process.Start();
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            throw new GitCommandException(DescribeCommand(arguments), null, timedOut: false, "", $"cannot start {Printable.Escape(GitPath)}: {e.Message}");
        }
        process.StandardInput.Close();

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(Timeout);
        Task<(byte[] Data, bool Truncated)> stdout = ReadCappedAsync(process.StandardOutput.BaseStream, MaxOutputBytes);
        Task<(byte[] Data, bool Truncated)> stderr = ReadCappedAsync(process.StandardError.BaseStream, MaxOutputBytes);
        try
        {
            await process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            KillTree(process);
            string killedStderr = await StderrAfterKillAsync(stderr).ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();
            throw new GitCommandException(DescribeCommand(arguments), null, timedOut: true, Tail(killedStderr), $"after {Timeout.TotalSeconds:0.#} s");
        }
        // A descendant (e.g. git-remote-https) could hold the pipes open after git exits; bound the wait.
        using var drain = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        (byte[] Data, bool Truncated) output;
        (byte[] Data, bool Truncated) error;
        try
        {
            output = await stdout.WaitAsync(drain.Token).ConfigureAwait(false);
            error = await stderr.WaitAsync(drain.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            KillTree(process);
            throw new GitCommandException(DescribeCommand(arguments), process.ExitCode, timedOut: false, "", "its output did not end after it exited");
        }
        string errorText = Redact(Encoding.UTF8.GetString(error.Data));
        if (error.Truncated)
            errorText += $"\n[stderr truncated at {MaxOutputBytes} bytes]";
        return new GitResult(process.ExitCode, output.Data, output.Truncated, errorText);
    }

    private async Task<string> StderrAfterKillAsync(Task<(byte[] Data, bool Truncated)> stderr)
    {
        try
        {
            (byte[] data, _) = await stderr.WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
            return Redact(Encoding.UTF8.GetString(data));
        }
        catch (TimeoutException)
        {
            return "";
        }
    }

    private static void KillTree(Process process)
    {
        try
        {
            process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // Already exited.
        }
    }

    /// <summary>The last part of (already redacted) stderr, escaped for printing (newlines kept).</summary>
    internal static string Tail(string stderr)
    {
        string tail = stderr.Length > StderrTailChars ? "…" + stderr[^StderrTailChars..] : stderr;
        return string.Join('\n', tail.TrimEnd().Split('\n').Select(line => Printable.Escape(line, StderrTailChars)));
    }

    private static async Task<(byte[] Data, bool Truncated)> ReadCappedAsync(Stream stream, long cap)
    {
        var buffer = new MemoryStream();
        var chunk = new byte[81920];
        bool truncated = false;
        int read;
        while ((read = await stream.ReadAsync(chunk).ConfigureAwait(false)) > 0)
        {
            long room = cap - buffer.Length;
            if (room > 0)
                buffer.Write(chunk, 0, (int)Math.Min(room, read));
            if (read > room)
                truncated = true;
        }
        return (buffer.ToArray(), truncated);
    }
}
