using System.Globalization;
using System.Text.RegularExpressions;
using AutoReview.Gateway.Context;

namespace AutoReview.Gateway.Review;

/// <summary>Settings for <see cref="RulesReviewer"/>.</summary>
public sealed record RulesReviewerOptions
{
    /// <summary>A binary file at least this large (in head) is a <c>large-binary</c> finding.</summary>
    public long LargeBinaryBytes { get; init; } = 1024 * 1024;

    /// <summary>Head's size of binary files by path, when the caller knows them (e.g. from <c>git cat-file -s</c>).
    /// Without a size, every added binary file is reported, since it may be large.</summary>
    public IReadOnlyDictionary<string, long>? BinarySizes { get; init; }

    /// <summary>Whitespace findings per file before the rest are folded into one summary finding.</summary>
    public int MaxWhitespaceFindingsPerFile { get; init; } = 20;
}

/// <summary>
/// The deterministic reviewer: no network, no model, the same findings for the same diff. It reads only ADDED
/// lines (a secret that a change removes is good news, not a finding) and reports head's line numbers.
/// </summary>
/// <remarks>
/// Scope by rule, chosen for low noise:
/// <list type="bullet">
/// <item>conflict-marker, private-key, secret-token run on every file with hunks, vendored and generated ones
/// included: a leaked key in node_modules/ is still leaked.</item>
/// <item>whitespace and debug-leftover run only on inlined (authored) files: style in someone else's or a
/// generator's code is not the author's to fix.</item>
/// <item>large-binary looks at binary files, which have no lines (their findings have line 0).</item>
/// </list>
/// Files over a size cap have no hunks and are not scanned; the context's notes say so.
/// </remarks>
public sealed partial class RulesReviewer : IReviewer
{
    public const string ConflictMarkerRule = "conflict-marker";
    public const string PrivateKeyRule = "private-key";
    public const string SecretTokenRule = "secret-token";
    public const string WhitespaceRule = "whitespace";
    public const string LargeBinaryRule = "large-binary";
    public const string DebugLeftoverRule = "debug-leftover";

    /// <summary>The rules, sorted by id. Debug leftovers are Warning; the print-style ones among them are
    /// reported as Note (see <see cref="DebugRules"/>).</summary>
    public static IReadOnlyList<RuleDescriptor> AllRules { get; } =
    [
        new(ConflictMarkerRule, Severity.Error, "Merge conflict markers committed"),
        new(DebugLeftoverRule, Severity.Warning, "Debugging statement left in source code"),
        new(LargeBinaryRule, Severity.Warning, "Large binary file added"),
        new(PrivateKeyRule, Severity.Error, "Private key committed"),
        new(SecretTokenRule, Severity.Error, "Access token or API key committed"),
        new(WhitespaceRule, Severity.Warning, "Whitespace error (as git diff --check reports)"),
    ];

    private const int KeyBodyLookahead = 4;

    private readonly RulesReviewerOptions options;

    public RulesReviewer(RulesReviewerOptions? options = null) => this.options = options ?? new RulesReviewerOptions();

    public IReadOnlyList<RuleDescriptor> Rules => AllRules;

    public Task<IReadOnlyList<Finding>> ReviewAsync(ReviewContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(Review(context));

    public IReadOnlyList<Finding> Review(ReviewContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var findings = new List<Finding>();
        foreach (ContextFile file in context.Files)
        {
            if (file.Diff.IsBinary)
            {
                LargeBinary(file.Diff, findings);
                continue;
            }
            List<DiffLine> added = file.Diff.Hunks.SelectMany(h => h.Lines).Where(l => l.Kind == DiffLineKind.Added).ToList();
            if (added.Count == 0)
                continue;
            ConflictMarkers(file.Path, added, findings);
            PrivateKeys(file.Path, added, findings);
            SecretTokens(file.Path, added, findings);
            if (file.IsInlined)
            {
                Whitespace(file.Path, added, findings);
                DebugLeftovers(file.Path, added, findings);
            }
        }
        return FindingOrder.Sort(findings);
    }

    // ---- conflict-marker -------------------------------------------------------------------------------------

    /// <summary>
    /// A conflict is reported only for a complete set in added lines, in order: <c>&lt;&lt;&lt;&lt;&lt;&lt;&lt;</c>,
    /// then <c>=======</c>, then <c>&gt;&gt;&gt;&gt;&gt;&gt;&gt;</c> (git's 7-character markers, each alone or followed by
    /// whitespace). A lone <c>=======</c> is a Markdown/reStructuredText heading underline, and a lone arrow line is
    /// a quote or a diagram; neither is a conflict. The lines between markers may be context (one side of a conflict
    /// is often the unchanged text). One finding per set, on its first marker.
    /// </summary>
    private static void ConflictMarkers(string path, List<DiffLine> added, List<Finding> findings)
    {
        DiffLine? open = null, separator = null;
        foreach (DiffLine line in added)
        {
            if (IsMarker(line.Text, '<'))
            {
                open = line;
                separator = null;
            }
            else if (open is not null && separator is null && line.Text.TrimEnd() == "=======")
            {
                separator = line;
            }
            else if (open is not null && separator is not null && IsMarker(line.Text, '>'))
            {
                findings.Add(new Finding(path, open.NewLine, Severity.Error, ConflictMarkerRule,
                    string.Create(CultureInfo.InvariantCulture,
                        $"merge conflict markers committed (lines {open.NewLine}, {separator.NewLine}, {line.NewLine}); resolve the conflict")));
                open = separator = null;
            }
        }

        static bool IsMarker(string text, char c) =>
            text.Length >= 7 && text.AsSpan(0, 7).IndexOfAnyExcept(c) < 0 && (text.Length == 7 || char.IsWhiteSpace(text[7]));
    }

    // ---- private-key -----------------------------------------------------------------------------------------

    /// <summary>
    /// A PEM/OpenSSH/PGP private key header followed by key material (a run of 40+ base64 characters on the same
    /// line, as in an escaped string, or on one of the next few added lines). Requiring the body keeps code that
    /// merely mentions the header (a detector, a parser, documentation) quiet. Public keys and certificates have
    /// other headers and never match.
    /// </summary>
    private static void PrivateKeys(string path, List<DiffLine> added, List<Finding> findings)
    {
        for (int i = 0; i < added.Count; i++)
        {
            Match header = PrivateKeyHeader().Match(added[i].Text);
            if (!header.Success)
                continue;
            bool body = KeyBody().IsMatch(added[i].Text.AsSpan(header.Index + header.Length));
            for (int k = i + 1; !body && k < added.Count && k <= i + KeyBodyLookahead && added[k].NewLine == added[k - 1].NewLine + 1; k++)
                body = KeyBody().IsMatch(added[k].Text);
            if (!body)
                continue;
            findings.Add(new Finding(path, added[i].NewLine, Severity.Error, PrivateKeyRule,
                $"private key committed ({header.Groups["kind"].Value}); revoke it and remove it from the history"));
        }
    }

    // ---- secret-token ----------------------------------------------------------------------------------------

    private static readonly (string Kind, Func<Regex> Pattern)[] TokenPatterns =
    [
        ("AWS access key ID", AwsAccessKeyId),
        ("GitHub token", GitHubToken),
        ("GitHub fine-grained token", GitHubFineGrainedToken),
        ("Slack token", SlackToken),
        ("Google API key", GoogleApiKey),
    ];

    /// <summary>
    /// Well-known token formats with fixed prefixes, so that random strings do not match. The message shows only
    /// the first four characters (the prefix that says which kind it is), never the secret. AWS's documented
    /// example keys (containing "EXAMPLE") are skipped.
    /// </summary>
    private static void SecretTokens(string path, List<DiffLine> added, List<Finding> findings)
    {
        foreach (DiffLine line in added)
        {
            foreach ((string kind, Func<Regex> pattern) in TokenPatterns)
            {
                foreach (Match match in pattern().Matches(line.Text))
                {
                    if (match.Value.Contains("EXAMPLE", StringComparison.Ordinal))
                        continue;
                    findings.Add(new Finding(path, line.NewLine, Severity.Error, SecretTokenRule,
                        $"{kind} committed ({Redact(match.Value)}); revoke it and remove it from the history"));
                }
            }
        }
    }

    /// <summary>The first four characters and an ellipsis: enough to recognise the kind, nothing to use.</summary>
    internal static string Redact(string secret) => secret.Length <= 4 ? "…" : secret[..4] + "…";

    // ---- whitespace ------------------------------------------------------------------------------------------

    /// <summary>
    /// git diff --check's default checks on added lines: trailing whitespace (blank-at-eol) and a space right
    /// before a tab in the indentation (space-before-tab). Deliberate differences, to keep noise down:
    /// <list type="bullet">
    /// <item>A CR before the LF is the line ending, not whitespace (git's cr-at-eol), or every line of a CRLF
    /// file would be reported.</item>
    /// <item>In Markdown, two or more trailing spaces after text are a hard line break (CommonMark §6.7), so they are
    /// allowed; a tab, a single space, or a whitespace-only line is still reported.</item>
    /// <item>Patch files (*.patch, *.diff) are skipped: their blank context lines are a space by design.</item>
    /// <item>blank-at-eof is not checked: a diff does not say where head's file ends unless the hunk reaches it.</item>
    /// </list>
    /// After <see cref="RulesReviewerOptions.MaxWhitespaceFindingsPerFile"/> lines, the rest of a file's lines are
    /// folded into one finding, so a reformatted file does not drown the other findings.
    /// </summary>
    private void Whitespace(string path, List<DiffLine> added, List<Finding> findings)
    {
        string extension = Extension(path);
        if (extension is ".patch" or ".diff")
            return;
        bool markdown = extension is ".md" or ".markdown" or ".mdx";
        int reported = 0, folded = 0, firstFolded = 0;
        foreach (DiffLine line in added)
        {
            string? problem = WhitespaceProblem(line.Text, markdown);
            if (problem is null)
                continue;
            if (reported < options.MaxWhitespaceFindingsPerFile)
            {
                findings.Add(new Finding(path, line.NewLine, Severity.Warning, WhitespaceRule, problem));
                reported++;
            }
            else
            {
                if (folded++ == 0)
                    firstFolded = line.NewLine;
            }
        }
        if (folded > 0)
        {
            findings.Add(new Finding(path, firstFolded, Severity.Warning, WhitespaceRule,
                string.Create(CultureInfo.InvariantCulture, $"{folded} more added lines from here on have whitespace errors (see git diff --check)")));
        }
    }

    internal static string? WhitespaceProblem(string text, bool markdown)
    {
        int end = text.Length;
        while (end > 0 && text[end - 1] is ' ' or '\t' or '\f' or '\v')
            end--;
        int trailing = text.Length - end;
        bool trailingError = trailing > 0
            && !(markdown && end > 0 && trailing >= 2 && text.AsSpan(end).IndexOfAnyExcept(' ') < 0);

        int indent = 0;
        while (indent < text.Length && text[indent] is ' ' or '\t')
            indent++;
        bool spaceBeforeTab = text.AsSpan(0, indent).IndexOf(" \t", StringComparison.Ordinal) >= 0;

        return (trailingError, spaceBeforeTab) switch
        {
            (true, true) => "trailing whitespace; space before tab in indentation",
            (true, false) => "trailing whitespace",
            (false, true) => "space before tab in indentation",
            _ => null,
        };
    }

    // ---- debug-leftover --------------------------------------------------------------------------------------

    private sealed record DebugRule(string[] Extensions, Func<Regex> Pattern, Severity Severity, bool PrintStyle, string[] CommentPrefixes, string Message);

    private static readonly string[] JsExtensions = [".js", ".jsx", ".mjs", ".cjs", ".ts", ".tsx", ".mts", ".cts"];
    private static readonly string[] SlashComments = ["//", "/*", "*"];
    private static readonly string[] HashComments = ["#"];

    /// <summary>
    /// Statements that only make sense while debugging, by file extension. Two kinds:
    /// <list type="bullet">
    /// <item>Breakpoints (debugger;, breakpoint(), pdb.set_trace(), Debugger.Break()/Launch(), binding.pry): Warning,
    /// everywhere, tests included, since they hang a test run or a server.</item>
    /// <item>Prints (console.log, dbg!, fmt.Print*("DEBUG…)): console.log is only a Note, as command-line scripts print
    /// with it on purpose; the explicitly debug-labelled ones are Warnings. Test files are exempt: printing from a
    /// test is a common, harmless diagnostic.</item>
    /// </list>
    /// Lines that start as comments are skipped (commented-out debugging does nothing).
    /// </summary>
    private static readonly DebugRule[] DebugRules =
    [
        new(JsExtensions, JsDebugger, Severity.Warning, false, SlashComments, "debugger statement left in; it pauses execution whenever developer tools are open"),
        new(JsExtensions, ConsoleLog, Severity.Note, true, SlashComments, "console.log call; remove it or use the project's logger if it is debugging output"),
        new([".py"], PythonBreakpoint, Severity.Warning, false, HashComments, "breakpoint left in; it stops the program in the debugger"),
        new([".cs"], DotNetDebuggerBreak, Severity.Warning, false, SlashComments, "Debugger.Break()/Launch() left in; it stops the program or prompts for a debugger"),
        new([".rs"], RustDbg, Severity.Warning, true, SlashComments, "dbg! macro left in; it prints to stderr in every build"),
        new([".go"], GoDebugPrint, Severity.Warning, true, SlashComments, "DEBUG print left in"),
        new([".rb"], RubyPry, Severity.Warning, false, HashComments, "interactive debugger breakpoint (binding.pry/irb, byebug) left in"),
    ];

    private static void DebugLeftovers(string path, List<DiffLine> added, List<Finding> findings)
    {
        string extension = Extension(path);
        bool test = IsTestPath(path);
        foreach (DebugRule rule in DebugRules)
        {
            if (!rule.Extensions.Contains(extension, StringComparer.Ordinal) || (rule.PrintStyle && test))
                continue;
            foreach (DiffLine line in added)
            {
                string trimmed = line.Text.TrimStart();
                if (rule.CommentPrefixes.Any(p => trimmed.StartsWith(p, StringComparison.Ordinal)))
                    continue;
                if (rule.Pattern().IsMatch(line.Text))
                    findings.Add(new Finding(path, line.NewLine, rule.Severity, DebugLeftoverRule, rule.Message));
            }
        }
    }

    /// <summary>Test code by the conventions of the languages above: a test directory, or a test file name.</summary>
    internal static bool IsTestPath(string path)
    {
        string[] parts = path.Split('/');
        for (int i = 0; i < parts.Length - 1; i++)
        {
            string dir = parts[i];
            if (dir.ToLowerInvariant() is "test" or "tests" or "__tests__" or "spec" or "specs" or "testdata"
                || dir.EndsWith(".Tests", StringComparison.Ordinal) || dir.EndsWith(".Test", StringComparison.Ordinal))
                return true;
        }
        string name = parts[^1];
        return TestFileName().IsMatch(name);
    }

    // ---- large-binary ----------------------------------------------------------------------------------------

    /// <summary>
    /// An added binary file is reported unless its size is known to be under the threshold; a modified, renamed
    /// or copied binary file only when its size is known to be over it. Deleted binaries are never reported.
    /// </summary>
    private void LargeBinary(FileDiff file, List<Finding> findings)
    {
        if (file.Status == FileStatus.Deleted)
            return;
        long? size = options.BinarySizes is not null && options.BinarySizes.TryGetValue(file.Path, out long known) ? known : null;
        if (size is { } s && s < options.LargeBinaryBytes)
            return;
        if (size is null && file.Status != FileStatus.Added)
            return;
        string what = file.Status == FileStatus.Added ? "binary file added" : "large binary file changed";
        string detail = size is { } bytes
            ? string.Create(CultureInfo.InvariantCulture, $"{bytes} bytes, threshold {options.LargeBinaryBytes}")
            : "size unknown";
        findings.Add(new Finding(file.Path, 0, Severity.Warning, LargeBinaryRule,
            $"{what} ({detail}); large binaries bloat every clone, consider Git LFS or an artifact store"));
    }

    private static string Extension(string path)
    {
        string name = path[(path.LastIndexOf('/') + 1)..];
        int dot = name.LastIndexOf('.');
        return dot <= 0 ? "" : name[dot..].ToLowerInvariant();
    }

    [GeneratedRegex(@"-----BEGIN (?<kind>(?:RSA |EC |OPENSSH |DSA |ENCRYPTED |)PRIVATE KEY|PGP PRIVATE KEY BLOCK)-----", RegexOptions.CultureInvariant)]
    private static partial Regex PrivateKeyHeader();

    [GeneratedRegex(@"[A-Za-z0-9+/]{40,}", RegexOptions.CultureInvariant)]
    private static partial Regex KeyBody();

    [GeneratedRegex(@"(?<![A-Za-z0-9])(?:AKIA|ASIA)[0-9A-Z]{16}(?![A-Za-z0-9])", RegexOptions.CultureInvariant)]
    private static partial Regex AwsAccessKeyId();

    [GeneratedRegex(@"(?<![A-Za-z0-9_])gh[pousr]_[0-9A-Za-z]{36}(?![A-Za-z0-9_])", RegexOptions.CultureInvariant)]
    private static partial Regex GitHubToken();

    [GeneratedRegex(@"(?<![A-Za-z0-9_])github_pat_[0-9A-Za-z]{22}_[0-9A-Za-z]{59}(?![A-Za-z0-9_])", RegexOptions.CultureInvariant)]
    private static partial Regex GitHubFineGrainedToken();

    // xoxb-/xoxp-/xoxa-/xoxr-/xoxs- then at least two dash-separated parts (workspace/user ids, then the secret).
    [GeneratedRegex(@"(?<![A-Za-z0-9_-])xox[baprs]-[0-9A-Za-z]{8,}(?:-[0-9A-Za-z]{4,})+(?![A-Za-z0-9_-])", RegexOptions.CultureInvariant)]
    private static partial Regex SlackToken();

    [GeneratedRegex(@"(?<![A-Za-z0-9_-])AIza[0-9A-Za-z_-]{35}(?![A-Za-z0-9_-])", RegexOptions.CultureInvariant)]
    private static partial Regex GoogleApiKey();

    [GeneratedRegex(@"^\s*debugger\s*;?\s*(?://.*)?$", RegexOptions.CultureInvariant)]
    private static partial Regex JsDebugger();

    [GeneratedRegex(@"(?<![\w$.])console\.log\s*\(", RegexOptions.CultureInvariant)]
    private static partial Regex ConsoleLog();

    [GeneratedRegex(@"(?<![\w.])breakpoint\(\s*\)|\b(?:i?pdb|pudb)\.set_trace\(", RegexOptions.CultureInvariant)]
    private static partial Regex PythonBreakpoint();

    [GeneratedRegex(@"\bDebugger\.(?:Break|Launch)\(\s*\)", RegexOptions.CultureInvariant)]
    private static partial Regex DotNetDebuggerBreak();

    [GeneratedRegex(@"(?<![\w])dbg!\s*\(", RegexOptions.CultureInvariant)]
    private static partial Regex RustDbg();

    [GeneratedRegex(@"\bfmt\.(?:Print|Println|Printf)\(\s*""DEBUG", RegexOptions.CultureInvariant)]
    private static partial Regex GoDebugPrint();

    [GeneratedRegex(@"\bbinding\.(?:pry|irb)\b|^\s*byebug\s*$", RegexOptions.CultureInvariant)]
    private static partial Regex RubyPry();

    [GeneratedRegex(@"(?:\.(?:test|spec)\.[A-Za-z]+$)|(?:_test\.(?:go|py|rb)$)|(?:^test_.*\.py$)|(?:_spec\.rb$)|(?:Tests?\.cs$)|(?:^conftest\.py$)", RegexOptions.CultureInvariant)]
    private static partial Regex TestFileName();
}
