namespace AutoReview.TestInfrastructure;

/// <summary>A git command that failed; carries the full result.</summary>
public sealed class GitCommandException(ProcessResult result) : Exception(result.ToString())
{
    public ProcessResult Result { get; } = result;
}

/// <summary>
/// Runs the host's real git with an environment built from scratch, so nothing from the machine or the test
/// process leaks in: a private HOME (with a small .gitconfig), no system config (GIT_CONFIG_NOSYSTEM=1), no
/// proxy variables, no terminal prompts, the C locale, and fixed author/committer identities and dates.
/// </summary>
public sealed class HermeticGit : IDisposable
{
    /// <summary>The default author and committer date; <see cref="RepositoryBuilder"/> counts commits forward from it.</summary>
    public static readonly DateTimeOffset BaseDate = new(2024, 1, 1, 0, 0, 0, TimeSpan.Zero);

    public const string AuthorName = "Test Author";
    public const string AuthorEmail = "author@example.invalid";
    public const string CommitterName = "Test Committer";
    public const string CommitterEmail = "committer@example.invalid";

    private readonly TemporaryDirectory home = new("ar-git-home-");
    private readonly Dictionary<string, string> environment;

    public HermeticGit()
    {
        GitPath = ProcessRunner.FindOnPath("git");
        File.WriteAllText(System.IO.Path.Combine(home.Path, ".gitconfig"),
            """
            [init]
            	defaultBranch = main
            [advice]
            	detachedHead = false
            [core]
            	autocrlf = false
            [commit]
            	gpgSign = false
            """ + "\n");
        environment = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["PATH"] = System.Environment.GetEnvironmentVariable("PATH") ?? "/usr/local/bin:/usr/bin:/bin",
            ["HOME"] = home.Path,
            ["XDG_CONFIG_HOME"] = System.IO.Path.Combine(home.Path, ".config"),
            ["GIT_CONFIG_NOSYSTEM"] = "1",
            ["GIT_CONFIG_GLOBAL"] = System.IO.Path.Combine(home.Path, ".gitconfig"),
            ["GIT_ATTR_NOSYSTEM"] = "1",
            ["GIT_TERMINAL_PROMPT"] = "0",
            ["LC_ALL"] = "C",
            ["LANG"] = "C",
            ["TZ"] = "UTC",
            ["GIT_AUTHOR_NAME"] = AuthorName,
            ["GIT_AUTHOR_EMAIL"] = AuthorEmail,
            ["GIT_COMMITTER_NAME"] = CommitterName,
            ["GIT_COMMITTER_EMAIL"] = CommitterEmail,
            ["GIT_AUTHOR_DATE"] = FormatDate(BaseDate),
            ["GIT_COMMITTER_DATE"] = FormatDate(BaseDate),
        };
    }

    /// <summary>The git executable found on PATH.</summary>
    public string GitPath { get; }

    /// <summary>The private HOME, deleted on dispose.</summary>
    public string Home => home.Path;

    /// <summary>The exact environment every command gets (before per-call additions).</summary>
    public IReadOnlyDictionary<string, string> Environment => environment;

    /// <summary>Runs <c>git args…</c> in <paramref name="workingDirectory"/>; <paramref name="extraEnvironment"/> adds to or overrides <see cref="Environment"/>.</summary>
    public Task<ProcessResult> RunAsync(
        string? workingDirectory,
        IEnumerable<string> arguments,
        IReadOnlyDictionary<string, string>? extraEnvironment = null,
        TimeSpan? timeout = null,
        CancellationToken cancellationToken = default)
    {
        var env = new Dictionary<string, string>(environment, StringComparer.Ordinal);
        foreach ((string name, string value) in extraEnvironment ?? new Dictionary<string, string>())
            env[name] = value;
        return ProcessRunner.RunAsync(GitPath, arguments, env, workingDirectory, timeout, cancellationToken);
    }

    /// <summary>Like <see cref="RunAsync"/>, but a non-zero exit throws <see cref="GitCommandException"/>; returns stdout.</summary>
    public async Task<string> RunCheckedAsync(
        string? workingDirectory,
        IEnumerable<string> arguments,
        IReadOnlyDictionary<string, string>? extraEnvironment = null,
        TimeSpan? timeout = null,
        CancellationToken cancellationToken = default)
    {
        ProcessResult result = await RunAsync(workingDirectory, arguments, extraEnvironment, timeout, cancellationToken).ConfigureAwait(false);
        return result.Succeeded ? result.Stdout : throw new GitCommandException(result);
    }

    /// <summary>A date in git's internal form ("seconds +zone"), which needs no parsing heuristics.</summary>
    public static string FormatDate(DateTimeOffset date) => $"{date.ToUnixTimeSeconds()} +0000";

    public void Dispose() => home.Dispose();
}
