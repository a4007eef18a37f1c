using System.Text.RegularExpressions;

namespace AutoReview.Gateway.Context;

/// <summary>Why a changed file is summarised for reviewers instead of inlined.</summary>
public enum SummaryReason
{
    /// <summary>Inlined: its hunks are part of the context.</summary>
    None,
    Binary,
    /// <summary>Its diff was over a size cap; the hunks were never kept.</summary>
    TooLarge,
    /// <summary>Deleted: only removed lines, which no reviewer comments on.</summary>
    Deleted,
    /// <summary>Under vendor/, node_modules/ or third_party/: someone else's code.</summary>
    Vendored,
    /// <summary>A dependency lock file: machine-written and huge.</summary>
    Lockfile,
    /// <summary>Minified JavaScript or CSS.</summary>
    Minified,
    /// <summary>Carries a "generated" marker in its first lines.</summary>
    Generated,
}

/// <summary>One changed file as reviewers see it.</summary>
public sealed class ContextFile
{
    internal ContextFile(FileDiff diff, SummaryReason reason, string? summary)
    {
        Diff = diff;
        Reason = reason;
        Summary = summary;
    }

    /// <summary>The parsed diff. For vendored, generated, lock and minified files the hunks are still here (the
    /// rules reviewer scans them for secrets), but reviewers that read code should use <see cref="Hunks"/>.</summary>
    public FileDiff Diff { get; }

    public string Path => Diff.Path;

    public FileStatus Status => Diff.Status;

    public SummaryReason Reason { get; }

    public bool IsInlined => Reason == SummaryReason.None;

    /// <summary>One line for people saying what changed and why it is not inlined; null when inlined.</summary>
    public string? Summary { get; }

    /// <summary>The hunks to show a reviewer: all of them when inlined, none otherwise.</summary>
    public IReadOnlyList<DiffHunk> Hunks => IsInlined ? Diff.Hunks : [];
}

/// <summary>
/// What reviewers get: every changed file with its status, the hunks of the files worth reading, and notes for
/// people about what was summarised instead (binary, too large, deleted, vendored, lock, minified, generated).
/// </summary>
public sealed partial class ReviewContext
{
    /// <summary>How many leading lines of a file are searched for a "generated" marker.</summary>
    public const int GeneratedMarkerLines = 5;

    private static readonly string[] VendoredDirectories = ["vendor", "node_modules", "third_party"];

    // Lock files of the common package managers; matched on the file name, case-sensitively as the tools write them.
    private static readonly HashSet<string> LockFileNames = new(StringComparer.Ordinal)
    {
        "package-lock.json", "npm-shrinkwrap.json", "pnpm-lock.yaml", "packages.lock.json", "go.sum",
    };

    private ReviewContext(IReadOnlyList<ContextFile> files, IReadOnlyList<string> notes)
    {
        Files = files;
        Notes = notes;
    }

    /// <summary>The changed files in git's order (by path).</summary>
    public IReadOnlyList<ContextFile> Files { get; }

    /// <summary>Notes for people: size caps hit, then one line per summarised file, in file order.</summary>
    public IReadOnlyList<string> Notes { get; }

    public static ReviewContext Build(UnifiedDiff diff)
    {
        ArgumentNullException.ThrowIfNull(diff);
        var files = new List<ContextFile>(diff.Files.Count);
        // Cap notes come first: they explain the gaps that matter most (content nobody looked at).
        var notes = new List<string>(diff.Notes);
        foreach (FileDiff file in diff.Files)
        {
            SummaryReason reason = Classify(file);
            string? summary = reason == SummaryReason.None ? null : Summarise(file, reason);
            if (summary is not null && reason != SummaryReason.TooLarge)
                notes.Add($"{file.Path}: {summary}");
            files.Add(new ContextFile(file, reason, summary));
        }
        return new ReviewContext(files, notes);
    }

    internal static SummaryReason Classify(FileDiff file)
    {
        // Order: what we cannot show at all first, then what is not worth showing.
        if (file.IsBinary) return SummaryReason.Binary;
        if (file.IsTruncated) return SummaryReason.TooLarge;
        if (file.Status == FileStatus.Deleted) return SummaryReason.Deleted;
        if (IsVendored(file.Path)) return SummaryReason.Vendored;
        if (IsLockFile(file.Path)) return SummaryReason.Lockfile;
        if (IsMinified(file.Path)) return SummaryReason.Minified;
        if (HasGeneratedMarker(file)) return SummaryReason.Generated;
        return SummaryReason.None;
    }

    internal static bool IsVendored(string path)
    {
        string[] parts = path.Split('/');
        // Only directories count: a file that happens to be called "vendor" is ordinary code.
        for (int i = 0; i < parts.Length - 1; i++)
        {
            if (VendoredDirectories.Contains(parts[i], StringComparer.Ordinal))
                return true;
        }
        return false;
    }

    internal static bool IsLockFile(string path)
    {
        string name = FileName(path);
        return LockFileNames.Contains(name) || (name.EndsWith(".lock", StringComparison.Ordinal) && name.Length > ".lock".Length);
    }

    internal static bool IsMinified(string path)
    {
        string name = FileName(path);
        return name.EndsWith(".min.js", StringComparison.OrdinalIgnoreCase) || name.EndsWith(".min.css", StringComparison.OrdinalIgnoreCase)
            || name.EndsWith(".min.mjs", StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>
    /// A marker in one of the file's first <see cref="GeneratedMarkerLines"/> lines, as far as the hunks show them:
    /// "&lt;auto-generated" (.NET tools), "@generated" (Meta's convention, also used by many code generators), and
    /// Go's "Code generated … DO NOT EDIT." The marker must be in head's text (added or context lines); a change
    /// deep inside a generated file whose header is not in any hunk is not recognised.
    /// </summary>
    internal static bool HasGeneratedMarker(FileDiff file)
    {
        foreach (DiffHunk hunk in file.Hunks)
        {
            if (hunk.NewStart > GeneratedMarkerLines)
                break;
            foreach (DiffLine line in hunk.Lines)
            {
                if (line.Kind == DiffLineKind.Removed)
                    continue;
                if (line.NewLine > GeneratedMarkerLines)
                    break;
                if (line.Text.Contains("<auto-generated", StringComparison.Ordinal) || line.Text.Contains("@generated", StringComparison.Ordinal)
                    || GoGeneratedMarker().IsMatch(line.Text))
                    return true;
            }
        }
        return false;
    }

    private static string Summarise(FileDiff file, SummaryReason reason)
    {
        string change = file.Status switch
        {
            FileStatus.Added => "added",
            FileStatus.Deleted => "deleted",
            FileStatus.Renamed => $"renamed from {file.OldPath}" + (file.Similarity is { } s ? $" ({s}% similar)" : ""),
            FileStatus.Copied => $"copied from {file.OldPath}" + (file.Similarity is { } c ? $" ({c}% similar)" : ""),
            _ => "modified",
        };
        string what = reason switch
        {
            SummaryReason.Binary => "binary file",
            SummaryReason.TooLarge => "file",
            SummaryReason.Deleted => "file",
            SummaryReason.Vendored => "vendored file",
            SummaryReason.Lockfile => "lock file",
            SummaryReason.Minified => "minified file",
            SummaryReason.Generated => "generated file",
            _ => throw new ArgumentOutOfRangeException(nameof(reason), reason, null),
        };
        string counts = reason == SummaryReason.Binary ? "" : $", +{file.AddedLines} -{file.RemovedLines} lines";
        string tail = reason == SummaryReason.TooLarge ? $"; {file.TruncationNote}" : "; not inlined";
        return $"{what} {change}{counts}{tail}";
    }

    private static string FileName(string path) => path[(path.LastIndexOf('/') + 1)..];

    [GeneratedRegex(@"^// Code generated .* DO NOT EDIT\.$", RegexOptions.CultureInvariant)]
    private static partial Regex GoGeneratedMarker();
}
