namespace AutoReview.Gateway.Review;

/// <summary>How bad a finding is. The order is the order of <c>--fail-on</c>: failing on Warning also fails on Error.</summary>
public enum Severity
{
    Note = 0,
    Warning = 1,
    Error = 2,
}

/// <summary>One problem a reviewer found.</summary>
/// <param name="Path">The file's path in head (repository-relative, '/'-separated).</param>
/// <param name="Line">The 1-based line in head's version of the file; 0 when the finding is about the whole file
/// (e.g. a binary file), which has no line.</param>
/// <param name="Rule">A stable rule id, e.g. <c>secret-token</c>.</param>
/// <param name="Message">For people. Never contains the secret it reports.</param>
public sealed record Finding(string Path, int Line, Severity Severity, string Rule, string Message);

/// <summary>What a reviewer publishes about one of its rules (SARIF's reportingDescriptor).</summary>
public sealed record RuleDescriptor(string Id, Severity DefaultSeverity, string ShortDescription);

/// <summary>The one order every output uses, so the same findings always print the same bytes.</summary>
public sealed class FindingOrder : IComparer<Finding>
{
    public static FindingOrder Instance { get; } = new();

    public int Compare(Finding? x, Finding? y)
    {
        if (ReferenceEquals(x, y)) return 0;
        if (x is null) return -1;
        if (y is null) return 1;
        int c = string.CompareOrdinal(x.Path, y.Path);
        if (c == 0) c = x.Line.CompareTo(y.Line);
        if (c == 0) c = string.CompareOrdinal(x.Rule, y.Rule);
        // Tie-breakers beyond (path, line, rule), so two findings of one rule on one line still sort stably.
        if (c == 0) c = y.Severity.CompareTo(x.Severity);
        if (c == 0) c = string.CompareOrdinal(x.Message, y.Message);
        return c;
    }

    public static IReadOnlyList<Finding> Sort(IEnumerable<Finding> findings)
    {
        var list = findings.ToList();
        list.Sort(Instance);
        return list;
    }
}

public static class SeverityNames
{
    /// <summary>The lower-case name used in JSON, SARIF levels and on the command line.</summary>
    public static string ToName(this Severity severity) => severity switch
    {
        Severity.Note => "note",
        Severity.Warning => "warning",
        Severity.Error => "error",
        _ => throw new ArgumentOutOfRangeException(nameof(severity), severity, null),
    };

    /// <summary>Parses "note", "warning" or "error" (any case), e.g. for <c>--fail-on</c>.</summary>
    public static bool TryParse(string? name, out Severity severity)
    {
        switch (name?.ToLowerInvariant())
        {
            case "note": severity = Severity.Note; return true;
            case "warning": severity = Severity.Warning; return true;
            case "error": severity = Severity.Error; return true;
            default: severity = default; return false;
        }
    }

    /// <summary>True when any finding is at or above <paramref name="threshold"/> (the <c>--fail-on</c> test).</summary>
    public static bool AnyAtOrAbove(IEnumerable<Finding> findings, Severity threshold) => findings.Any(f => f.Severity >= threshold);
}
