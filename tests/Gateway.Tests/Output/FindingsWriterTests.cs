using System.Text;
using System.Text.Json;
using AutoReview.Gateway.Output;
using AutoReview.Gateway.Review;
using Shouldly;
using Xunit;

namespace AutoReview.Gateway.Tests.Output;

public sealed class FindingsWriterTests
{
    private static readonly Finding[] Sample =
    [
        new("src/b.py", 7, Severity.Warning, "whitespace", "trailing whitespace"),
        new("src/a.c", 12, Severity.Error, "conflict-marker", "merge conflict markers committed (lines 12, 14, 16); resolve the conflict"),
        new("assets/logo.bin", 0, Severity.Warning, "large-binary", "binary file added (size unknown)"),
        new("src/a.c", 3, Severity.Note, "debug-leftover", "console.log call"),
    ];

    // ---- Markdown

    [Fact]
    public void Markdown_has_a_summary_line_and_findings_grouped_by_file_in_order()
    {
        string markdown = FindingsWriter.ToMarkdown(Sample, ["big.txt: diff is 9 bytes, over the per-file cap of 1; summarised, not inlined"]);

        markdown.ShouldBe(
            """
            ## auto-review: 4 findings (1 error, 2 warnings, 1 note) in 3 files

            ### `assets/logo.bin`

            - **warning** file `large-binary`: binary file added (size unknown)

            ### `src/a.c`

            - **note** line 3 `debug-leftover`: console.log call
            - **error** line 12 `conflict-marker`: merge conflict markers committed (lines 12, 14, 16); resolve the conflict

            ### `src/b.py`

            - **warning** line 7 `whitespace`: trailing whitespace

            ### Notes

            - big.txt: diff is 9 bytes, over the per-file cap of 1; summarised, not inlined

            """.ReplaceLineEndings("\n"));
    }

    [Fact]
    public void Markdown_without_findings_says_so()
    {
        FindingsWriter.ToMarkdown([]).ShouldBe("## auto-review: no findings\n");
    }

    [Fact]
    public void Markdown_escapes_hostile_paths_and_messages()
    {
        // A file name with a newline and a backtick, a message (e.g. from a model) carrying HTML and a link.
        string markdown = FindingsWriter.ToMarkdown(
        [
            new("evil`\n### forged heading.txt", 1, Severity.Error, "r", "<img src=x onerror=alert(1)> [click](https://evil.example) **bold**\nsecond line"),
        ]);

        markdown.ShouldNotContain("\n### forged");
        markdown.ShouldContain("### ``evil`\\n### forged heading.txt``");
        FindingsWriter.CodeSpan("`start").ShouldBe("`` `start ``");
        markdown.ShouldContain("\\<img src=x onerror=alert(1)\\> \\[click\\](https://evil.example) \\*\\*bold\\*\\*\\\\nsecond line"); // the newline shows as an escaped \n
        markdown.Split('\n').Count(l => l.StartsWith("- ", StringComparison.Ordinal)).ShouldBe(1);
    }

    // ---- JSON

    [Fact]
    public void Json_round_trips_and_is_sorted_with_a_summary()
    {
        byte[] json = FindingsWriter.ToJson(Sample, ["a note"]);

        FindingsReport report = FindingsJsonReader.Read(json);
        report.Findings.ShouldBe(FindingOrder.Sort(Sample));
        report.Notes.ShouldBe(["a note"]);

        using JsonDocument document = JsonDocument.Parse(json);
        JsonElement summary = document.RootElement.GetProperty("summary");
        (summary.GetProperty("total").GetInt32(), summary.GetProperty("error").GetInt32(), summary.GetProperty("warning").GetInt32(),
            summary.GetProperty("note").GetInt32(), summary.GetProperty("files").GetInt32()).ShouldBe((4, 1, 2, 1, 3));
        JsonElement first = document.RootElement.GetProperty("findings")[0];
        first.EnumerateObject().Select(p => p.Name).ShouldBe(["path", "line", "severity", "rule", "message"]);
        first.GetProperty("severity").GetString().ShouldBe("warning");
    }

    [Fact]
    public void Json_keeps_unicode_readable_and_escapes_control_characters()
    {
        string json = Encoding.UTF8.GetString(FindingsWriter.ToJson([new Finding("d\u00e4/x.txt", 1, Severity.Note, "r", "it's \"quoted\"\u0007")]));
        json.ShouldContain("\"d\u00e4/x.txt\"");
        json.ShouldContain("it's \\\"quoted\\\"\\u0007");
    }

    [Theory]
    [InlineData("[]", "top level must be an object")]
    [InlineData("{}", "$.findings is missing")]
    [InlineData("{\"findings\":[{\"path\":\"a\",\"line\":-1,\"severity\":\"note\",\"rule\":\"r\",\"message\":\"m\"}]}", "findings[0].line must be a non-negative integer")]
    [InlineData("{\"findings\":[{\"path\":\"a\",\"line\":1,\"severity\":\"fatal\",\"rule\":\"r\",\"message\":\"m\"}]}", "severity 'fatal'")]
    [InlineData("{\"findings\":[{\"path\":\"a\",\"line\":1,\"severity\":\"note\",\"rule\":\"r\"}]}", "findings[0].message is missing")]
    [InlineData("{\"findings\":", "malformed")]
    public void Json_reader_rejects_malformed_reports_naming_the_field(string json, string expected)
    {
        Should.Throw<FormatException>(() => FindingsJsonReader.Read(Encoding.UTF8.GetBytes(json))).Message.ShouldContain(expected);
    }

    // ---- SARIF

    [Fact]
    public void Sarif_has_the_required_2_1_0_structure()
    {
        byte[] sarif = FindingsWriter.ToSarif(Sample, ["capped.txt: summarised"], RulesReviewer.AllRules, new ToolInfo(Version: "1.2.3", InformationUri: "https://example.invalid/auto-review"));
        using JsonDocument document = JsonDocument.Parse(sarif);
        JsonElement root = document.RootElement;

        // sarifLog (§3.13)
        root.GetProperty("version").GetString().ShouldBe("2.1.0");
        root.GetProperty("$schema").GetString().ShouldBe("https://json.schemastore.org/sarif-2.1.0.json");
        JsonElement run = root.GetProperty("runs").EnumerateArray().ShouldHaveSingleItem();

        // toolComponent (§3.19) and reportingDescriptor (§3.49)
        JsonElement driver = run.GetProperty("tool").GetProperty("driver");
        driver.GetProperty("name").GetString().ShouldBe("auto-review");
        driver.GetProperty("version").GetString().ShouldBe("1.2.3");
        driver.GetProperty("informationUri").GetString().ShouldBe("https://example.invalid/auto-review");
        JsonElement[] rules = driver.GetProperty("rules").EnumerateArray().ToArray();
        rules.Select(r => r.GetProperty("id").GetString()).ShouldBe(["conflict-marker", "debug-leftover", "large-binary", "private-key", "secret-token", "whitespace"]);
        rules.ShouldAllBe(r => r.GetProperty("shortDescription").GetProperty("text").GetString()!.Length > 0);
        rules[0].GetProperty("defaultConfiguration").GetProperty("level").GetString().ShouldBe("error");
        rules[5].GetProperty("defaultConfiguration").GetProperty("level").GetString().ShouldBe("warning");

        // invocation (§3.20) carrying the notes
        JsonElement invocation = run.GetProperty("invocations").EnumerateArray().ShouldHaveSingleItem();
        invocation.GetProperty("executionSuccessful").GetBoolean().ShouldBeTrue();
        invocation.GetProperty("toolExecutionNotifications")[0].GetProperty("message").GetProperty("text").GetString().ShouldBe("capped.txt: summarised");

        // result (§3.27), physicalLocation (§3.29), region (§3.30)
        JsonElement[] results = run.GetProperty("results").EnumerateArray().ToArray();
        results.Length.ShouldBe(4);
        foreach (JsonElement result in results)
        {
            string ruleId = result.GetProperty("ruleId").GetString()!;
            rules[result.GetProperty("ruleIndex").GetInt32()].GetProperty("id").GetString().ShouldBe(ruleId);
            result.GetProperty("level").GetString().ShouldBeOneOf("note", "warning", "error");
            result.GetProperty("message").GetProperty("text").GetString().ShouldNotBeNullOrEmpty();
            result.GetProperty("locations").GetArrayLength().ShouldBe(1);
        }
        JsonElement conflict = results.Single(r => r.GetProperty("ruleId").GetString() == "conflict-marker");
        conflict.GetProperty("level").GetString().ShouldBe("error");
        JsonElement location = conflict.GetProperty("locations")[0].GetProperty("physicalLocation");
        location.GetProperty("artifactLocation").GetProperty("uri").GetString().ShouldBe("src/a.c");
        location.GetProperty("region").GetProperty("startLine").GetInt32().ShouldBe(12);
        // A whole-file finding has no region: startLine must be >= 1.
        JsonElement binary = results.Single(r => r.GetProperty("ruleId").GetString() == "large-binary");
        binary.GetProperty("locations")[0].GetProperty("physicalLocation").TryGetProperty("region", out _).ShouldBeFalse();
    }

    [Fact]
    public void Sarif_uris_are_escaped_relative_references()
    {
        FindingsWriter.RelativeUri("dir with space/\u00e4#1?.txt").ShouldBe("dir%20with%20space/%C3%A4%231%3F.txt");
        FindingsWriter.RelativeUri("c:x/y.txt").ShouldBe("c%3Ax/y.txt");
        Uri.TryCreate(FindingsWriter.RelativeUri("a b/c%d.txt"), UriKind.Relative, out _).ShouldBeTrue();
    }

    [Fact]
    public void Sarif_describes_rules_it_was_not_told_about()
    {
        using JsonDocument document = JsonDocument.Parse(FindingsWriter.ToSarif([new Finding("a.cs", 2, Severity.Warning, "llm-null-deref", "possible null dereference")]));
        JsonElement run = document.RootElement.GetProperty("runs")[0];
        JsonElement rule = run.GetProperty("tool").GetProperty("driver").GetProperty("rules").EnumerateArray().ShouldHaveSingleItem();
        rule.GetProperty("id").GetString().ShouldBe("llm-null-deref");
        run.GetProperty("results")[0].GetProperty("ruleIndex").GetInt32().ShouldBe(0);
        run.TryGetProperty("invocations", out _).ShouldBeFalse();
    }

    [Theory]
    [InlineData(OutputFormat.Markdown)]
    [InlineData(OutputFormat.Json)]
    [InlineData(OutputFormat.Sarif)]
    public void Output_is_byte_identical_whatever_the_input_order(OutputFormat format)
    {
        byte[] forward = FindingsWriter.Write(format, Sample, ["n"], RulesReviewer.AllRules);
        byte[] backward = FindingsWriter.Write(format, Sample.Reverse(), ["n"], RulesReviewer.AllRules);
        backward.ShouldBe(forward);
        forward[^1].ShouldBe((byte)'\n');
    }

    [Fact]
    public void Severity_order_drives_fail_on()
    {
        (Severity.Note < Severity.Warning && Severity.Warning < Severity.Error).ShouldBeTrue();
        SeverityNames.AnyAtOrAbove(Sample, Severity.Error).ShouldBeTrue();
        SeverityNames.AnyAtOrAbove(Sample.Where(f => f.Severity != Severity.Error), Severity.Error).ShouldBeFalse();
        SeverityNames.TryParse("Warning", out Severity parsed).ShouldBeTrue();
        parsed.ShouldBe(Severity.Warning);
        SeverityNames.TryParse("fatal", out _).ShouldBeFalse();
        FindingsWriter.TryParseFormat("sarif", out OutputFormat format).ShouldBeTrue();
        format.ShouldBe(OutputFormat.Sarif);
    }
}
