using System.Globalization;
using System.Text;
using AutoReview.Gateway.Context;
using AutoReview.Gateway.Git;
using AutoReview.Gateway.Output;
using AutoReview.Gateway.Review;

namespace AutoReview.Gateway;

public enum ReviewerKind
{
    Rules,
    Llm,
}

/// <summary>What to review and how. A source is either an https URL or a local repository path, never both.</summary>
public sealed record ReviewRequest
{
    public Uri? RepositoryUrl { get; init; }

    public string? LocalPath { get; init; }

    /// <summary>The base revision; null: the remote's HEAD (or <c>main</c> when head was not named either) for a
    /// URL, and <c>origin/HEAD</c> or else <c>main</c> for a local repository.</summary>
    public string? Base { get; init; }

    /// <summary>The head revision; null: HEAD.</summary>
    public string? Head { get; init; }

    public ReviewerKind Reviewer { get; init; } = ReviewerKind.Rules;

    /// <summary>A private directory for the clone and git's HOME.</summary>
    public required string WorkDirectory { get; init; }

    /// <summary>Git's executable, the variables git may see (proxy, trust anchors) and the forge token.</summary>
    public required GitSourceOptions Git { get; init; }

    /// <summary>The diff text git may print before it is cut (at a file boundary, with a note).</summary>
    public long MaxDiffBytes { get; init; } = 16L * 1024 * 1024;

    public UnifiedDiffOptions DiffLimits { get; init; } = new();

    /// <summary>Required for <see cref="ReviewerKind.Llm"/>.</summary>
    public LlmOptions? Llm { get; init; }

    /// <summary>How the llm reviewer reaches its endpoint (e.g. through the egress proxy); null: directly.</summary>
    public Func<HttpMessageHandler>? LlmHandlerFactory { get; init; }

    /// <summary>Progress lines for people, already redacted.</summary>
    public Action<string>? Log { get; init; }
}

/// <summary>
/// The inner gateway's whole job: get the two commits (a fetch from the forge, or the local repository read in
/// place), build the merge-base review context, run the reviewer and return findings with notes. It runs inside
/// the sandbox (or, with --bare, outside it), and knows nothing about either.
/// </summary>
public static class ReviewJob
{
    /// <summary>At most this many binary files have their size looked up for the large-binary rule.</summary>
    public const int MaxBinarySizeLookups = 1000;

    public static async Task<FindingsReport> RunAsync(ReviewRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        if ((request.RepositoryUrl is null) == (request.LocalPath is null))
            throw new ArgumentException("give exactly one source: a repository URL or a local path");
        if (request.Reviewer == ReviewerKind.Llm && request.Llm is null)
            throw new ArgumentException("the llm reviewer needs its endpoint settings");

        GitSourceOptions gitOptions = request.Git with { MaxOutputBytes = request.MaxDiffBytes };
        GitRepository repository;
        ResolvedRevisions revisions;
        if (request.RepositoryUrl is { } url)
        {
            string head = request.Head ?? "HEAD";
            string @base = request.Base ?? (request.Head is null ? "main" : "HEAD");
            request.Log?.Invoke($"fetching {@base} and {head} from {Printable.Escape(url.GetLeftPart(UriPartial.Path))}");
            (repository, revisions) = await RepositoryClone.CloneAsync(url, Path.Combine(request.WorkDirectory, "repository.git"),
                @base, head, gitOptions, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            repository = RepositoryClone.OpenLocal(request.LocalPath!, gitOptions);
            string @base = request.Base ?? await DefaultLocalBaseAsync(repository, cancellationToken).ConfigureAwait(false);
            revisions = await RepositoryClone.ResolveAsync(repository, @base, request.Head ?? "HEAD", cancellationToken).ConfigureAwait(false);
        }

        GitDiff gitDiff = await RepositoryClone.DiffAsync(repository, revisions.BaseSha, revisions.HeadSha, cancellationToken).ConfigureAwait(false);
        UnifiedDiff diff = gitDiff.Parse(new UnifiedDiffParser(request.DiffLimits));
        ReviewContext context = ReviewContext.Build(diff);
        request.Log?.Invoke(string.Create(CultureInfo.InvariantCulture,
            $"reviewing {revisions.MergeBaseSha[..12]}...{revisions.HeadSha[..12]}: {context.Files.Count} changed files"));

        var notes = new List<string>(context.Notes);
        IReadOnlyList<Finding> findings;
        if (request.Reviewer == ReviewerKind.Rules)
        {
            IReadOnlyDictionary<string, long> sizes = await BinarySizesAsync(repository, revisions.HeadSha, context, cancellationToken).ConfigureAwait(false);
            findings = new RulesReviewer(new RulesReviewerOptions { BinarySizes = sizes }).Review(context);
        }
        else
        {
            using var reviewer = new LlmReviewer(request.Llm!, request.LlmHandlerFactory?.Invoke(), request.Log);
            LlmReviewResult result = await reviewer.ReviewWithNotesAsync(context, cancellationToken).ConfigureAwait(false);
            findings = result.Findings;
            notes.AddRange(result.Notes);
        }
        if (revisions.MergeBaseSha == revisions.HeadSha)
            notes.Add("head is already part of base: there is nothing to review (name another base with --base)");
        notes.Add($"reviewed {revisions.BaseSha}...{revisions.HeadSha} (merge base {revisions.MergeBaseSha})");
        return new FindingsReport(FindingOrder.Sort(findings), notes);
    }

    private static async Task<string> DefaultLocalBaseAsync(GitRepository repository, CancellationToken cancellationToken)
    {
        foreach (string candidate in (string[])["refs/remotes/origin/HEAD", "refs/heads/main"])
        {
            // Any failure means "not this one": a dangling origin/HEAD (exit 1 with a warning) falls through to main.
            GitResult result = await repository.RunUncheckedAsync(RepositoryClone.CommitOf(candidate), cancellationToken).ConfigureAwait(false);
            if (result.ExitCode == 0)
                return candidate;
        }
        throw new ArgumentException("no base to compare with: the repository has neither origin/HEAD nor a main branch; name one with --base");
    }

    /// <summary>Sizes in head of the binary files added or changed, for the large-binary rule. Paths come from
    /// the repository, so they are passed as literal pathspecs, never as pathspec magic.</summary>
    private static async Task<IReadOnlyDictionary<string, long>> BinarySizesAsync(GitRepository repository, string headSha,
        ReviewContext context, CancellationToken cancellationToken)
    {
        string[] paths = context.Files
            .Where(f => f.Diff.IsBinary && f.Diff.NewPath is not null)
            .Select(f => f.Path)
            .Take(MaxBinarySizeLookups)
            .ToArray();
        var sizes = new Dictionary<string, long>(StringComparer.Ordinal);
        if (paths.Length == 0)
            return sizes;
        GitResult result = await repository.RunAsync(["--literal-pathspecs", "ls-tree", "-l", "-z", "--full-tree", "--end-of-options", headSha, "--", .. paths],
            cancellationToken).ConfigureAwait(false);
        // Each record: "<mode> SP <type> SP <object> SP+ <size> TAB <path> NUL".
        foreach (string record in Encoding.UTF8.GetString(result.Stdout).Split('\0', StringSplitOptions.RemoveEmptyEntries))
        {
            int tab = record.IndexOf('\t', StringComparison.Ordinal);
            if (tab < 0)
                continue;
            string[] fields = record[..tab].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length == 4 && fields[1] == "blob" && long.TryParse(fields[3], NumberStyles.None, CultureInfo.InvariantCulture, out long size))
                sizes[record[(tab + 1)..]] = size;
        }
        return sizes;
    }
}
