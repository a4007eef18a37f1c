using System.Text;
using AutoReview.Gateway.Context;

namespace AutoReview.Gateway.Git;

/// <summary>How to run git for a clone or a local source.</summary>
public sealed record GitSourceOptions
{
    /// <summary>The git executable.</summary>
    public string GitPath { get; init; } = "git";

    /// <summary>HOME for git: a private temporary directory.</summary>
    public required string HomeDirectory { get; init; }

    /// <summary>The only outside environment git gets (HTTPS_PROXY, SSL_CERT_FILE, GIT_SSL_CAINFO, …).</summary>
    public IReadOnlyDictionary<string, string>? AllowlistedEnvironment { get; init; }

    /// <summary>An access token for the forge. It is sent as an HTTP Authorization header written into the fresh
    /// repository's own config, never put in argv or a URL, and redacted from every message.</summary>
    public string? Token { get; init; }

    public TimeSpan Timeout { get; init; } = GitRunner.DefaultTimeout;

    public long MaxOutputBytes { get; init; } = GitRunner.DefaultMaxOutputBytes;

    /// <summary>Context lines in the diff (<c>-U&lt;n&gt;</c>).</summary>
    public int ContextLines { get; init; } = 3;
}

/// <summary>A repository git can be run on: its git directory and the runner set up for it.</summary>
public sealed record GitRepository(string GitDirectory, GitRunner Runner, GitSourceOptions Options)
{
    /// <summary>Runs <c>git --git-dir=… arguments…</c>.</summary>
    public Task<GitResult> RunAsync(IReadOnlyList<string> arguments, CancellationToken cancellationToken = default) =>
        Runner.RunAsync([$"--git-dir={GitDirectory}", .. arguments], workingDirectory: GitDirectory, cancellationToken);

    /// <summary>Like <see cref="RunAsync"/>, but a non-zero exit is returned, not thrown.</summary>
    public Task<GitResult> RunUncheckedAsync(IReadOnlyList<string> arguments, CancellationToken cancellationToken = default) =>
        Runner.RunUncheckedAsync([$"--git-dir={GitDirectory}", .. arguments], workingDirectory: GitDirectory, cancellationToken);
}

/// <summary>The commits a review compares.</summary>
public sealed record ResolvedRevisions(string BaseSha, string HeadSha, string MergeBaseSha);

/// <summary>A diff as git printed it, possibly cut short at a file boundary.</summary>
/// <param name="Text">The diff text (raw bytes; repository content is not necessarily UTF-8).</param>
/// <param name="TruncationNote">Why the text ends early, for people; null if it is whole.</param>
public sealed record GitDiff(ReadOnlyMemory<byte> Text, string? TruncationNote)
{
    /// <summary>Parses the text, adding <see cref="TruncationNote"/> to the notes.</summary>
    public UnifiedDiff Parse(UnifiedDiffParser? parser = null)
    {
        UnifiedDiff diff = (parser ?? new UnifiedDiffParser()).Parse(Text);
        return TruncationNote is null ? diff : diff with { Notes = [.. diff.Notes, TruncationNote] };
    }
}

/// <summary>
/// Gets the two commits of a review into a repository git can diff, from an https forge or a local repository.
/// </summary>
/// <remarks>
/// A remote source is not cloned with <c>git clone</c> (which would check out and need one branch): a bare
/// repository is created empty (<c>git init --bare --template=</c>, so not even sample hooks), then exactly the
/// base and head are fetched into private refs with <c>--filter=blob:none --no-tags --no-recurse-submodules</c>;
/// blobs the diff needs are fetched lazily through the same hermetic options. A local source is never copied:
/// git reads it in place through <c>--git-dir</c>, which needs no writes (so a read-only bind works) and no
/// <c>upload-pack</c> through <c>/bin/sh</c>.
/// </remarks>
public static class RepositoryClone
{
    private const string BaseRef = "refs/auto-review/base";
    private const string HeadRef = "refs/auto-review/head";

    /// <summary>Fetches <paramref name="baseRef"/> and <paramref name="headRef"/> (default: the remote's HEAD) from
    /// <paramref name="httpsUrl"/> into a new bare repository at <paramref name="destination"/>.</summary>
    public static async Task<(GitRepository Repository, ResolvedRevisions Revisions)> CloneAsync(
        Uri httpsUrl, string destination, string? baseRef, string? headRef, GitSourceOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(httpsUrl);
        ArgumentException.ThrowIfNullOrEmpty(destination);
        ArgumentNullException.ThrowIfNull(options);
        string baseName = ValidateRemoteRevision(baseRef ?? "HEAD");
        string headName = ValidateRemoteRevision(headRef ?? "HEAD");
        if (baseName == headName)
            throw new ArgumentException($"base and head are both '{Printable.Escape(baseName)}'; name a different --base or --head");

        (string url, string? user) = ValidateUrl(httpsUrl, options.Token);
        var secrets = new List<string>();
        if (options.Token is not null)
            secrets.Add(options.Token);
        if (!string.IsNullOrEmpty(httpsUrl.UserInfo))
            secrets.AddRange(httpsUrl.UserInfo.Split(':').Where(part => part.Length > 0).Select(Uri.UnescapeDataString));

        var environment = HermeticGitEnvironment.Create(options.HomeDirectory, options.AllowlistedEnvironment);
        var runner = new GitRunner(options.GitPath, environment, secrets, options.Timeout, options.MaxOutputBytes);

        string gitDir = Path.GetFullPath(destination);
        if (Directory.Exists(gitDir) && Directory.EnumerateFileSystemEntries(gitDir).Any())
            throw new IOException($"clone destination {Printable.Escape(gitDir)} exists and is not empty");
        await runner.RunAsync(["init", "--quiet", "--bare", "--template=", "--", gitDir], cancellationToken: cancellationToken).ConfigureAwait(false);
        var repository = new GitRepository(gitDir, runner, options);
        await repository.RunAsync(["remote", "add", "--", "origin", url], cancellationToken).ConfigureAwait(false);
        if (options.Token is not null)
        {
            // Written straight into the fresh repository's config: a token in argv would be visible in /proc.
            string credentials = Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user ?? "x-access-token"}:{options.Token}"));
            runner = runner.WithSecrets([credentials]);
            repository = repository with { Runner = runner };
            await File.AppendAllTextAsync(Path.Combine(gitDir, "config"),
                $"[http]\n\textraHeader = Authorization: Basic {credentials}\n", cancellationToken).ConfigureAwait(false);
        }

        await repository.RunAsync(
            ["fetch", "--quiet", "--filter=blob:none", "--no-tags", "--no-recurse-submodules", "--no-write-fetch-head",
             "origin", $"+{baseName}:{BaseRef}", $"+{headName}:{HeadRef}"],
            cancellationToken).ConfigureAwait(false);
        ResolvedRevisions revisions = await ResolveValidatedAsync(repository, BaseRef, HeadRef, cancellationToken).ConfigureAwait(false);
        return (repository, revisions);
    }

    /// <summary>Opens the local repository at <paramref name="path"/> (a working tree's <c>.git</c> or a bare
    /// repository) where it is, read-only: git gets <c>--git-dir</c>, the file protocol and <c>safe.directory</c>
    /// for it, since under a user-namespace mapping it may belong to another uid.</summary>
    public static GitRepository OpenLocal(string path, GitSourceOptions options)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(options);
        string full = Path.GetFullPath(path);
        try
        {
            _ = Directory.EnumerateFileSystemEntries(full).FirstOrDefault();
        }
        catch (UnauthorizedAccessException)
        {
            throw new ArgumentException($"{Printable.Escape(full)} cannot be read: permission denied. Git runs without privileges here, so the "
                + "repository must be readable through its own permissions (root's override does not count)");
        }
        catch (DirectoryNotFoundException)
        {
            throw new ArgumentException($"{Printable.Escape(full)} does not exist or is not a directory");
        }
        string dotGit = Path.Combine(full, ".git");
        string gitDir;
        if (Directory.Exists(dotGit))
            gitDir = dotGit;
        else if (File.Exists(dotGit))
            throw new ArgumentException($"{Printable.Escape(full)} is a linked worktree or submodule (.git is a file); give the main repository instead");
        else if (File.Exists(Path.Combine(full, "HEAD")) && Directory.Exists(Path.Combine(full, "objects")))
            gitDir = full;
        else
            throw new ArgumentException($"{Printable.Escape(full)} is not a git repository (no .git directory, and not a bare repository)");
        var environment = HermeticGitEnvironment.Create(options.HomeDirectory, options.AllowlistedEnvironment,
            localSource: true, safeDirectories: [gitDir, full]);
        var runner = new GitRunner(options.GitPath, environment, options.Token is null ? null : [options.Token], options.Timeout, options.MaxOutputBytes);
        return new GitRepository(gitDir, runner, options);
    }

    /// <summary>Resolves <paramref name="baseRef"/> and <paramref name="headRef"/> (SHAs or ref names, with ancestry steps; validated) to
    /// commit ids and finds their merge-base.</summary>
    public static Task<ResolvedRevisions> ResolveAsync(GitRepository repository, string baseRef, string headRef, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(repository);
        return ResolveValidatedAsync(repository, GitRefs.ValidateLocalRevision(baseRef), GitRefs.ValidateLocalRevision(headRef), cancellationToken);
    }

    /// <summary>The merge-base diff <c>base...head</c>, in exactly the form <see cref="UnifiedDiffParser"/> reads.</summary>
    /// <remarks>Output beyond <see cref="GitSourceOptions.MaxOutputBytes"/> is cut at the last whole file, with a note.</remarks>
    public static async Task<GitDiff> DiffAsync(GitRepository repository, string baseSha, string headSha, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(repository);
        GitRefs.ValidateSha(baseSha);
        GitRefs.ValidateSha(headSha);
        GitResult result = await repository.RunAsync(
            [
                // The parser needs git's default a/ b/ prefixes and unquoted-unless-needed paths whatever the
                // repository's config says; --no-ext-diff and --no-textconv keep diff drivers from running programs.
                "-c", "diff.mnemonicPrefix=false", "-c", "diff.noprefix=false", "-c", "diff.srcPrefix=a/",
                "-c", "diff.dstPrefix=b/", "-c", "diff.relative=false", "-c", "diff.suppressBlankEmpty=false",
                "-c", "core.quotePath=true", "-c", "color.ui=false",
                "diff", "--no-color", "--no-ext-diff", "--no-textconv", "--no-relative", $"-U{repository.Options.ContextLines}",
                "--find-renames", "--end-of-options", $"{baseSha}...{headSha}", "--",
            ],
            cancellationToken).ConfigureAwait(false);
        if (!result.StdoutTruncated)
            return new GitDiff(result.Stdout, null);
        // Keep whole files only: cut before the last "diff --git" header that starts a line.
        ReadOnlySpan<byte> text = result.Stdout;
        int cut = text.LastIndexOf("\ndiff --git "u8);
        int keep = cut < 0 ? 0 : cut + 1;
        return new GitDiff(result.Stdout.AsMemory(0, keep),
            $"the diff is over {repository.Options.MaxOutputBytes} bytes; files after the first {keep} bytes were left out");
    }

    private static async Task<ResolvedRevisions> ResolveValidatedAsync(GitRepository repository, string baseName, string headName, CancellationToken cancellationToken)
    {
        string baseSha = await RevParseCommitAsync(repository, baseName, cancellationToken).ConfigureAwait(false);
        string headSha = await RevParseCommitAsync(repository, headName, cancellationToken).ConfigureAwait(false);
        GitResult mergeBase = await repository.RunAsync(["merge-base", "--end-of-options", baseSha, headSha], cancellationToken).ConfigureAwait(false);
        return new ResolvedRevisions(baseSha, headSha, GitRefs.ValidateSha(mergeBase.StdoutText.Trim()));
    }

    private static async Task<string> RevParseCommitAsync(GitRepository repository, string name, CancellationToken cancellationToken)
    {
        GitResult result = await repository.RunUncheckedAsync(CommitOf(name), cancellationToken).ConfigureAwait(false);
        // --verify --quiet exits 1, silently, for a name that leads to no commit: a mistake in the input, said as such.
        if (result.ExitCode == 1 && result.Stderr.Length == 0)
            throw new ArgumentException($"unknown revision '{Printable.Escape(name)}': the repository has no such branch, tag or commit");
        if (result.ExitCode != 0)
            throw new GitCommandException(repository.Runner.DescribeCommand(["rev-parse", name]), result.ExitCode, timedOut: false, GitRunner.Tail(result.Stderr));
        return GitRefs.ValidateSha(result.StdoutText.Trim());
    }

    /// <summary>The arguments that ask git for the commit <paramref name="name"/> (already validated) leads to.</summary>
    internal static string[] CommitOf(string name) => ["rev-parse", "--verify", "--quiet", "--end-of-options", name + "^{commit}"];

    private static string ValidateRemoteRevision(string value)
    {
        // A full commit id is fetched as itself; anything else (an abbreviated id included) must be a ref name
        // the server knows, since a server cannot be asked for an abbreviated id.
        if (GitRefs.IsFullSha(value))
            return value;
        return GitRefs.ValidateRefName(value);
    }

    private static (string Url, string? User) ValidateUrl(Uri url, string? token)
    {
        string shown = Printable.Escape(url.IsAbsoluteUri ? $"{url.Scheme}://{url.Host}{url.AbsolutePath}" : "(relative URL)");
        if (!url.IsAbsoluteUri)
            throw new ArgumentException($"refused repository URL {shown}: it must be an absolute https:// URL");
        if (url.Scheme != Uri.UriSchemeHttps)
            throw new ArgumentException($"refused repository URL with scheme '{Printable.Escape(url.Scheme)}': only https:// is allowed (not ext::, file::, ssh://, http:// or git://)");
        if (url.OriginalString.Contains("::", StringComparison.Ordinal))
            throw new ArgumentException($"refused repository URL {shown}: '::' (a git remote-helper transport) is not allowed");
        if (string.IsNullOrEmpty(url.Host))
            throw new ArgumentException($"refused repository URL {shown}: it has no host");
        if (!string.IsNullOrEmpty(url.Query) || !string.IsNullOrEmpty(url.Fragment))
            throw new ArgumentException($"refused repository URL {shown}: a query or fragment is not allowed");
        string? user = null;
        if (!string.IsNullOrEmpty(url.UserInfo))
        {
            if (token is null)
                throw new ArgumentException($"refused repository URL {shown}: credentials in the URL are not allowed; pass the token through the token option");
            user = Uri.UnescapeDataString(url.UserInfo.Split(':')[0]);
        }
        // Rebuilt without userinfo: credentials never reach argv.
        var clean = new UriBuilder(url) { UserName = "", Password = "" }.Uri;
        return (clean.GetComponents(UriComponents.SchemeAndServer | UriComponents.Path, UriFormat.UriEscaped), user);
    }
}
