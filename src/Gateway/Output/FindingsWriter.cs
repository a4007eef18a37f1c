using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using AutoReview.Gateway.Review;

namespace AutoReview.Gateway.Output;

public enum OutputFormat
{
    Markdown,
    Json,
    Sarif,
}

/// <summary>What SARIF says about the tool (runs[0].tool.driver).</summary>
public sealed record ToolInfo(string Name = "auto-review", string? Version = null, string? InformationUri = null);

/// <summary>
/// Renders findings for people (Markdown), tools (JSON) and code-scanning UIs (SARIF 2.1.0). Every format sorts
/// the findings with <see cref="FindingOrder"/> first, so the same findings always give the same bytes.
/// </summary>
/// <remarks>
/// JSON is written with <see cref="Utf8JsonWriter"/> (no reflection, so it is NativeAOT-safe). The relaxed encoder
/// keeps non-ASCII and quotes readable; control characters are still escaped, and none of this output is ever
/// embedded in HTML unescaped.
/// </remarks>
public static class FindingsWriter
{
    public const string SarifSchema = "https://json.schemastore.org/sarif-2.1.0.json";
    public const string SarifVersion = "2.1.0";

    private static readonly JsonWriterOptions JsonOptions = new()
    {
        Indented = true,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public static bool TryParseFormat(string? name, out OutputFormat format)
    {
        switch (name?.ToLowerInvariant())
        {
            case "markdown" or "md": format = OutputFormat.Markdown; return true;
            case "json": format = OutputFormat.Json; return true;
            case "sarif": format = OutputFormat.Sarif; return true;
            default: format = default; return false;
        }
    }

    /// <summary>The report in <paramref name="format"/> as UTF-8 bytes (no BOM), ending in a newline.</summary>
    public static byte[] Write(OutputFormat format, IEnumerable<Finding> findings, IReadOnlyList<string>? notes = null,
        IReadOnlyList<RuleDescriptor>? rules = null, ToolInfo? tool = null) => format switch
        {
            OutputFormat.Markdown => Encoding.UTF8.GetBytes(ToMarkdown(findings, notes)),
            OutputFormat.Json => ToJson(findings, notes),
            OutputFormat.Sarif => ToSarif(findings, notes, rules, tool),
            _ => throw new ArgumentOutOfRangeException(nameof(format), format, null),
        };

    // ---- Markdown --------------------------------------------------------------------------------------------

    /// <summary>
    /// A summary line, then one section per file with a list of findings in line order, then the notes.
    /// Paths, messages and notes are untrusted (they come from the repository or a model), so they are escaped:
    /// a crafted name cannot inject HTML, links, headings or extra lines into a pull-request comment.
    /// </summary>
    public static string ToMarkdown(IEnumerable<Finding> findings, IReadOnlyList<string>? notes = null)
    {
        IReadOnlyList<Finding> sorted = FindingOrder.Sort(findings);
        var text = new StringBuilder();
        text.Append("## auto-review: ").Append(SummaryText(sorted)).Append('\n');
        foreach (IGrouping<string, Finding> file in sorted.GroupBy(f => f.Path, StringComparer.Ordinal))
        {
            text.Append('\n').Append("### ").Append(CodeSpan(file.Key)).Append("\n\n");
            foreach (Finding finding in file)
            {
                text.Append("- **").Append(finding.Severity.ToName()).Append("** ")
                    .Append(finding.Line > 0 ? string.Create(CultureInfo.InvariantCulture, $"line {finding.Line}") : "file")
                    .Append(' ').Append(CodeSpan(finding.Rule)).Append(": ").Append(EscapeInline(finding.Message)).Append('\n');
            }
        }
        if (notes is { Count: > 0 })
        {
            text.Append("\n### Notes\n\n");
            foreach (string note in notes)
                text.Append("- ").Append(EscapeInline(note)).Append('\n');
        }
        return text.ToString();
    }

    /// <summary>"3 findings (1 error, 1 warning, 1 note) in 2 files", or "no findings".</summary>
    public static string SummaryText(IReadOnlyCollection<Finding> findings)
    {
        if (findings.Count == 0)
            return "no findings";
        int files = findings.Select(f => f.Path).Distinct(StringComparer.Ordinal).Count();
        var parts = new List<string>();
        foreach (Severity severity in new[] { Severity.Error, Severity.Warning, Severity.Note })
        {
            int n = findings.Count(f => f.Severity == severity);
            if (n > 0)
                parts.Add(string.Create(CultureInfo.InvariantCulture, $"{n} {severity.ToName()}{(n == 1 ? "" : "s")}"));
        }
        return string.Create(CultureInfo.InvariantCulture,
            $"{findings.Count} finding{(findings.Count == 1 ? "" : "s")} ({string.Join(", ", parts)}) in {files} file{(files == 1 ? "" : "s")}");
    }

    /// <summary>Backslash-escapes CommonMark's inline syntax characters and flattens line breaks.</summary>
    internal static string EscapeInline(string text)
    {
        var builder = new StringBuilder(text.Length + 8);
        foreach (char c in Printable.Escape(text, int.MaxValue))
        {
            if (c is '\\' or '`' or '*' or '_' or '[' or ']' or '<' or '>' or '|' or '~' or '&' or '#' or '!')
                builder.Append('\\');
            builder.Append(c);
        }
        return builder.ToString();
    }

    /// <summary>A code span (CommonMark §6.1) whose backtick fence is longer than any backtick run inside.</summary>
    internal static string CodeSpan(string text)
    {
        string safe = Printable.Escape(text, int.MaxValue);
        int longest = 0, run = 0;
        foreach (char c in safe)
        {
            run = c == '`' ? run + 1 : 0;
            longest = Math.Max(longest, run);
        }
        string fence = new('`', longest + 1);
        // A span that starts or ends with a backtick needs a space inside the fence, which CommonMark strips again.
        string pad = safe.StartsWith('`') || safe.EndsWith('`') ? " " : "";
        return fence + pad + safe + pad + fence;
    }

    // ---- JSON ------------------------------------------------------------------------------------------------

    /// <summary><c>{"findings":[{path,line,severity,rule,message}], "summary":{total,error,warning,note,files}, "notes":[…]}</c>.</summary>
    public static byte[] ToJson(IEnumerable<Finding> findings, IReadOnlyList<string>? notes = null)
    {
        IReadOnlyList<Finding> sorted = FindingOrder.Sort(findings);
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, JsonOptions))
        {
            json.WriteStartObject();
            json.WriteStartArray("findings");
            foreach (Finding finding in sorted)
            {
                json.WriteStartObject();
                json.WriteString("path", finding.Path);
                json.WriteNumber("line", finding.Line);
                json.WriteString("severity", finding.Severity.ToName());
                json.WriteString("rule", finding.Rule);
                json.WriteString("message", finding.Message);
                json.WriteEndObject();
            }
            json.WriteEndArray();
            json.WriteStartObject("summary");
            json.WriteNumber("total", sorted.Count);
            json.WriteNumber("error", sorted.Count(f => f.Severity == Severity.Error));
            json.WriteNumber("warning", sorted.Count(f => f.Severity == Severity.Warning));
            json.WriteNumber("note", sorted.Count(f => f.Severity == Severity.Note));
            json.WriteNumber("files", sorted.Select(f => f.Path).Distinct(StringComparer.Ordinal).Count());
            json.WriteEndObject();
            json.WriteStartArray("notes");
            foreach (string note in notes ?? [])
                json.WriteStringValue(note);
            json.WriteEndArray();
            json.WriteEndObject();
        }
        buffer.WriteByte((byte)'\n');
        return buffer.ToArray();
    }

    // ---- SARIF 2.1.0 -----------------------------------------------------------------------------------------

    /// <summary>
    /// A SARIF 2.1.0 log (OASIS SARIF v2.1.0) with one run. Section names below are the specification's:
    /// sarifLog (§3.13: version, $schema, runs), run (§3.14: tool, results, invocations), toolComponent
    /// (§3.19: name, version, informationUri, rules), reportingDescriptor (§3.49: id, shortDescription,
    /// defaultConfiguration), reportingConfiguration (§3.50: level), result (§3.27: ruleId, ruleIndex, level,
    /// message, locations), physicalLocation (§3.29), artifactLocation (§3.4: uri), region (§3.30: startLine).
    /// </summary>
    /// <param name="rules">The reviewer's rules; any rule id found in <paramref name="findings"/> but not here gets a
    /// descriptor of its own (an LLM reviewer may name its own rules), so every result has a ruleIndex.</param>
    public static byte[] ToSarif(IEnumerable<Finding> findings, IReadOnlyList<string>? notes = null,
        IReadOnlyList<RuleDescriptor>? rules = null, ToolInfo? tool = null)
    {
        IReadOnlyList<Finding> sorted = FindingOrder.Sort(findings);
        tool ??= new ToolInfo();
        List<RuleDescriptor> descriptors = AllDescriptors(sorted, rules);
        var ruleIndex = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < descriptors.Count; i++)
            ruleIndex[descriptors[i].Id] = i;

        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, JsonOptions))
        {
            json.WriteStartObject();
            json.WriteString("$schema", SarifSchema);
            json.WriteString("version", SarifVersion);
            json.WriteStartArray("runs");
            json.WriteStartObject();

            json.WriteStartObject("tool");
            json.WriteStartObject("driver");
            json.WriteString("name", tool.Name);
            if (tool.Version is not null)
                json.WriteString("version", tool.Version);
            if (tool.InformationUri is not null)
                json.WriteString("informationUri", tool.InformationUri);
            json.WriteStartArray("rules");
            foreach (RuleDescriptor rule in descriptors)
            {
                json.WriteStartObject();
                json.WriteString("id", rule.Id);
                json.WriteStartObject("shortDescription");
                json.WriteString("text", rule.ShortDescription);
                json.WriteEndObject();
                json.WriteStartObject("defaultConfiguration");
                json.WriteString("level", Level(rule.DefaultSeverity));
                json.WriteEndObject();
                json.WriteEndObject();
            }
            json.WriteEndArray();
            json.WriteEndObject();
            json.WriteEndObject();

            if (notes is { Count: > 0 })
            {
                // invocation (§3.20) with toolExecutionNotifications (§3.58 notification): where SARIF puts
                // "what the tool could not look at", e.g. a diff over the size cap.
                json.WriteStartArray("invocations");
                json.WriteStartObject();
                json.WriteBoolean("executionSuccessful", true);
                json.WriteStartArray("toolExecutionNotifications");
                foreach (string note in notes)
                {
                    json.WriteStartObject();
                    json.WriteString("level", "note");
                    json.WriteStartObject("message");
                    json.WriteString("text", note);
                    json.WriteEndObject();
                    json.WriteEndObject();
                }
                json.WriteEndArray();
                json.WriteEndObject();
                json.WriteEndArray();
            }

            json.WriteStartArray("results");
            foreach (Finding finding in sorted)
            {
                json.WriteStartObject();
                json.WriteString("ruleId", finding.Rule);
                json.WriteNumber("ruleIndex", ruleIndex[finding.Rule]);
                json.WriteString("level", Level(finding.Severity));
                json.WriteStartObject("message");
                json.WriteString("text", finding.Message);
                json.WriteEndObject();
                json.WriteStartArray("locations");
                json.WriteStartObject();
                json.WriteStartObject("physicalLocation");
                json.WriteStartObject("artifactLocation");
                json.WriteString("uri", RelativeUri(finding.Path));
                json.WriteEndObject();
                // region.startLine is 1-based (§3.30.5); a whole-file finding (line 0) has no region at all.
                if (finding.Line > 0)
                {
                    json.WriteStartObject("region");
                    json.WriteNumber("startLine", finding.Line);
                    json.WriteEndObject();
                }
                json.WriteEndObject();
                json.WriteEndObject();
                json.WriteEndArray();
                json.WriteEndObject();
            }
            json.WriteEndArray();

            json.WriteEndObject();
            json.WriteEndArray();
            json.WriteEndObject();
        }
        buffer.WriteByte((byte)'\n');
        return buffer.ToArray();
    }

    /// <summary>SARIF's level values (§3.27.10) for our severities.</summary>
    internal static string Level(Severity severity) => severity.ToName();

    /// <summary>
    /// A relative URI reference (RFC 3986) for a repository path: each segment percent-encoded as UTF-8, '/' kept.
    /// Escaping ':' also keeps a first segment like "c:x" from reading as a URI scheme.
    /// </summary>
    internal static string RelativeUri(string path) => string.Join('/', path.Split('/').Select(Uri.EscapeDataString));

    private static List<RuleDescriptor> AllDescriptors(IReadOnlyList<Finding> findings, IReadOnlyList<RuleDescriptor>? rules)
    {
        var byId = new Dictionary<string, RuleDescriptor>(StringComparer.Ordinal);
        foreach (RuleDescriptor rule in rules ?? [])
            byId.TryAdd(rule.Id, rule);
        foreach (Finding finding in findings)
            byId.TryAdd(finding.Rule, new RuleDescriptor(finding.Rule, finding.Severity, finding.Rule));
        return byId.Values.OrderBy(r => r.Id, StringComparer.Ordinal).ToList();
    }
}
