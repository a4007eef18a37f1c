using AutoReview.Gateway.Context;
using AutoReview.Gateway.Review;
using Shouldly;
using Xunit;

namespace AutoReview.Gateway.Tests.Review;

public sealed class RulesReviewerTests
{
    // Secrets are assembled at run time so this file does not itself trip secret scanners (ours included).
    private static readonly string GitHubToken = "ghp" + "_" + "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z05";
    private static readonly string AwsKeyId = "AKIA" + "Z7Q3RT5UVWXY2BCD";
    private static readonly string SlackToken = "xoxb" + "-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx";
    private static readonly string GoogleKey = "AIza" + "SyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q";
    private static readonly string FineGrained = "github_pat" + "_" + new string('A', 22) + "_" + new string('b', 59);
    private static readonly string BeginRsa = "-----BEGIN " + "RSA PRIVATE KEY-----";
    private static readonly string KeyBody = "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun";

    private static IReadOnlyList<Finding> Review(params string[] diffParts) => new RulesReviewer().Review(Diffs.Context(diffParts));

    private static IReadOnlyList<Finding> Review(RulesReviewerOptions options, params string[] diffParts) => new RulesReviewer(options).Review(Diffs.Context(diffParts));

    // ---- conflict-marker

    [Fact]
    public void Complete_conflict_marker_set_is_reported_once_on_its_first_line()
    {
        Finding finding = Review(Diffs.AddedFile("src/a.c", "int a;", "<<<<<<< HEAD", "int b = 1;", "=======", "int b = 2;", ">>>>>>> feature", "int c;"))
            .ShouldHaveSingleItem();
        finding.ShouldBe(new Finding("src/a.c", 2, Severity.Error, "conflict-marker", "merge conflict markers committed (lines 2, 4, 6); resolve the conflict"));
    }

    [Fact]
    public void Markdown_heading_underline_is_not_a_conflict()
    {
        Review(Diffs.AddedFile("README.md", "Title", "=======", "", "Text", ">>>>>>> not a marker without an opener")).ShouldBeEmpty();
    }

    [Fact]
    public void Markers_in_the_wrong_order_or_of_the_wrong_length_are_not_a_conflict()
    {
        Review(Diffs.AddedFile("a.txt", "=======", "<<<<<<< x", ">>>>>>> y")).ShouldBeEmpty();
        Review(Diffs.AddedFile("b.txt", "<<<<<<<< eight", "========", ">>>>>>>> eight")).ShouldBeEmpty();
    }

    [Fact]
    public void Conflict_markers_in_removed_lines_are_not_reported()
    {
        Review(Diffs.DeletedFile("a.txt", "<<<<<<< HEAD", "x", "=======", "y", ">>>>>>> b")).ShouldBeEmpty();
    }

    // ---- private-key

    [Fact]
    public void Committed_private_key_is_reported_at_its_header()
    {
        Finding finding = Review(Diffs.AddedFile("deploy/id_rsa", "# key", BeginRsa, KeyBody, KeyBody, "-----END RSA PRIVATE KEY-----")).ShouldHaveSingleItem();
        (finding.Path, finding.Line, finding.Rule, finding.Severity).ShouldBe(("deploy/id_rsa", 2, "private-key", Severity.Error));
        finding.Message.ShouldContain("RSA PRIVATE KEY");
        finding.Message.ShouldNotContain(KeyBody[..20]);
    }

    [Fact]
    public void OpenSSH_and_PGP_private_keys_and_a_key_in_an_escaped_string_are_reported()
    {
        IReadOnlyList<Finding> findings = Review(
            Diffs.AddedFile("a/key", "-----BEGIN " + "OPENSSH PRIVATE KEY-----", "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW"),
            Diffs.AddedFile("b/key.asc", "-----BEGIN " + "PGP PRIVATE KEY BLOCK-----", "", "lQOYBGXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"),
            Diffs.AddedFile("c/Test.cs", $"const string Key = \"{BeginRsa}\\n{KeyBody}\\n\";"));
        findings.Select(f => (f.Path, f.Line, f.Rule)).ShouldBe([("a/key", 1, "private-key"), ("b/key.asc", 1, "private-key"), ("c/Test.cs", 1, "private-key")]);
    }

    [Fact]
    public void Public_key_block_is_not_a_private_key()
    {
        Review(Diffs.AddedFile("keys/pub.pem", "-----BEGIN " + "PUBLIC KEY-----", KeyBody, "-----END PUBLIC KEY-----",
            "-----BEGIN " + "PGP PUBLIC KEY BLOCK-----", KeyBody)).ShouldBeEmpty();
    }

    [Fact]
    public void Code_that_only_mentions_the_header_is_not_a_private_key()
    {
        Review(Diffs.AddedFile("src/detect.py", $"HEADER = \"{BeginRsa}\"", "def is_key(text):", "    return HEADER in text")).ShouldBeEmpty();
    }

    // ---- secret-token

    [Fact]
    public void Well_known_tokens_are_reported_without_echoing_the_secret()
    {
        IReadOnlyList<Finding> findings = Review(Diffs.AddedFile("config/settings.py",
            $"GITHUB = \"{GitHubToken}\"",
            $"AWS_KEY_ID = '{AwsKeyId}'",
            $"SLACK={SlackToken}",
            $"google: {GoogleKey}",
            $"pat = {FineGrained}"));

        findings.Select(f => (f.Line, f.Rule)).ShouldBe([(1, "secret-token"), (2, "secret-token"), (3, "secret-token"), (4, "secret-token"), (5, "secret-token")]);
        findings.Select(f => f.Message).ShouldBe(
        [
            "GitHub token committed (ghp_…); revoke it and remove it from the history",
            "AWS access key ID committed (AKIA…); revoke it and remove it from the history",
            "Slack token committed (xoxb…); revoke it and remove it from the history",
            "Google API key committed (AIza…); revoke it and remove it from the history",
            "GitHub fine-grained token committed (gith…); revoke it and remove it from the history",
        ]);
        foreach (string secret in new[] { GitHubToken, AwsKeyId, SlackToken, GoogleKey, FineGrained })
        {
            string tail = secret.Substring(4, 8);
            findings.ShouldAllBe(f => !f.Message.Contains(tail));
        }
    }

    [Fact]
    public void Token_in_a_removed_line_is_not_reported()
    {
        Review(Diffs.Modified("config.env", [$"TOKEN={GitHubToken}"], ["TOKEN=${GITHUB_TOKEN}"])).ShouldBeEmpty();
    }

    [Fact]
    public void AWS_documentation_example_and_look_alikes_inside_longer_words_are_not_reported()
    {
        Review(Diffs.AddedFile("docs/aws.txt",
            "aws_access_key_id = AKIAIOSFODNN7EXAMPLE",
            "id: X" + AwsKeyId,
            "ghp_tooShort123")).ShouldBeEmpty();
    }

    [Fact]
    public void Secrets_in_vendored_files_are_reported_but_their_style_is_not()
    {
        IReadOnlyList<Finding> findings = Review(Diffs.AddedFile("vendor/pkg/config.js", $"const t = '{GitHubToken}';   ", "console.log(t);"));
        findings.ShouldHaveSingleItem().Rule.ShouldBe("secret-token");
    }

    // ---- whitespace

    [Fact]
    public void Trailing_whitespace_and_space_before_tab_are_reported()
    {
        IReadOnlyList<Finding> findings = Review(Diffs.AddedFile("src/a.c", "int a; ", "ok", " \tint b;", "\tint c;\t", "    ", " \tint d; "));
        findings.Select(f => (f.Line, f.Rule, f.Message)).ShouldBe(
        [
            (1, "whitespace", "trailing whitespace"),
            (3, "whitespace", "space before tab in indentation"),
            (4, "whitespace", "trailing whitespace"),
            (5, "whitespace", "trailing whitespace"),
            (6, "whitespace", "trailing whitespace; space before tab in indentation"),
        ]);
        findings.ShouldAllBe(f => f.Severity == Severity.Warning);
    }

    [Fact]
    public void CRLF_line_endings_are_not_trailing_whitespace()
    {
        ReviewContext context = ReviewContext.Build(new UnifiedDiffParser().Parse(Diffs.AddedFile("win.txt", "a\r", "b \r")));
        new RulesReviewer().Review(context).ShouldHaveSingleItem().Line.ShouldBe(2);
    }

    [Fact]
    public void Markdown_hard_line_break_is_allowed_but_other_trailing_whitespace_in_markdown_is_not()
    {
        IReadOnlyList<Finding> findings = Review(Diffs.AddedFile("docs/guide.md", "first line  ", "second line", "one space ", "tab\t", "  "));
        findings.Select(f => f.Line).ShouldBe([3, 4, 5]);
        // The same two spaces outside Markdown are an error.
        Review(Diffs.AddedFile("notes.txt", "first line  ")).ShouldHaveSingleItem().Rule.ShouldBe("whitespace");
    }

    [Fact]
    public void Whitespace_findings_are_folded_after_the_per_file_limit()
    {
        string[] lines = Enumerable.Range(1, 10).Select(i => $"line {i} ").ToArray();
        IReadOnlyList<Finding> findings = Review(new RulesReviewerOptions { MaxWhitespaceFindingsPerFile = 3 }, Diffs.AddedFile("a.txt", lines));
        findings.Select(f => f.Line).ShouldBe([1, 2, 3, 4]);
        findings[3].Message.ShouldBe("7 more added lines from here on have whitespace errors (see git diff --check)");
    }

    [Fact]
    public void Patch_files_are_not_checked_for_whitespace()
    {
        Review(Diffs.AddedFile("fix.patch", "@@ -1 +1 @@", " ", "-a", "+b")).ShouldBeEmpty();
    }

    // ---- large-binary

    [Fact]
    public void Added_binary_of_unknown_size_is_reported_for_the_whole_file()
    {
        Finding finding = Review(Diffs.BinaryAdded("assets/video.mp4")).ShouldHaveSingleItem();
        (finding.Path, finding.Line, finding.Rule, finding.Severity).ShouldBe(("assets/video.mp4", 0, "large-binary", Severity.Warning));
        finding.Message.ShouldStartWith("binary file added (size unknown)");
    }

    [Fact]
    public void Binary_size_decides_when_it_is_known()
    {
        var options = new RulesReviewerOptions
        {
            LargeBinaryBytes = 1000,
            BinarySizes = new Dictionary<string, long> { ["small.png"] = 999, ["big.bin"] = 5000 },
        };
        IReadOnlyList<Finding> findings = Review(options, Diffs.BinaryAdded("small.png"), Diffs.BinaryAdded("big.bin"));
        findings.ShouldHaveSingleItem().Message.ShouldStartWith("binary file added (5000 bytes, threshold 1000)");
    }

    [Fact]
    public void Deleted_binary_is_not_reported()
    {
        const string deleted = "diff --git a/old.bin b/old.bin\ndeleted file mode 100644\nindex 1234567..0000000\nBinary files a/old.bin and /dev/null differ\n";
        Review(deleted).ShouldBeEmpty();
    }

    // ---- debug-leftover

    [Theory]
    [InlineData("web/app.ts", "  debugger;", Severity.Warning)]
    [InlineData("web/app.js", "console.log('here', x);", Severity.Note)]
    [InlineData("tool/main.py", "    breakpoint()", Severity.Warning)]
    [InlineData("tool/main.py", "import pdb; pdb.set_trace()", Severity.Warning)]
    [InlineData("src/Service.cs", "System.Diagnostics.Debugger.Break();", Severity.Warning)]
    [InlineData("src/main.rs", "    let y = dbg!(x * 2);", Severity.Warning)]
    [InlineData("cmd/main.go", "\tfmt.Println(\"DEBUG value\", v)", Severity.Warning)]
    [InlineData("app/models/user.rb", "    binding.pry", Severity.Warning)]
    public void Debug_leftover_is_reported(string path, string line, Severity severity)
    {
        Finding finding = Review(Diffs.AddedFile(path, "ok", line)).ShouldHaveSingleItem();
        (finding.Line, finding.Rule, finding.Severity).ShouldBe((2, "debug-leftover", severity));
    }

    [Theory]
    [InlineData("web/app.js", "// console.log(x);")] // commented out
    [InlineData("web/app.js", "logger.console.log(x);")] // someone's own object
    [InlineData("web/app.test.js", "console.log(x);")] // prints in tests are exempt
    [InlineData("tests/unit/helpers.ts", "console.log(x);")]
    [InlineData("notes.txt", "debugger;")] // not source
    [InlineData("tool/main.py", "# breakpoint()")]
    [InlineData("tool/main.py", "self.breakpoint()")] // a method of one's own
    [InlineData("cmd/main.go", "fmt.Println(\"done\")")]
    [InlineData("src/Service.cs", "// Debugger.Break();")]
    [InlineData("src/main_test.go", "fmt.Println(\"DEBUG\")")]
    public void Debug_leftover_false_positives_stay_quiet(string path, string line)
    {
        Review(Diffs.AddedFile(path, line)).ShouldBeEmpty();
    }

    [Fact]
    public void Breakpoints_in_tests_are_still_reported_since_they_hang_the_run()
    {
        Review(Diffs.AddedFile("web/app.spec.ts", "debugger;")).ShouldHaveSingleItem().Rule.ShouldBe("debug-leftover");
        Review(Diffs.AddedFile("tests/test_app.py", "breakpoint()")).ShouldHaveSingleItem().Rule.ShouldBe("debug-leftover");
    }

    [Theory]
    [InlineData("tests/Gateway.Tests/FooTests.cs", true)]
    [InlineData("src/Foo.Tests/Bar.cs", true)]
    [InlineData("pkg/x_test.go", true)]
    [InlineData("test_app.py", true)]
    [InlineData("src/__tests__/a.js", true)]
    [InlineData("src/contest.py", false)]
    [InlineData("src/latest/app.js", false)]
    [InlineData("src/Attestation.cs", false)]
    public void Test_paths_are_recognised(string path, bool expected) => RulesReviewer.IsTestPath(path).ShouldBe(expected);

    // ---- ordering and the whole pipeline on real git output

    [Fact]
    public void Findings_are_sorted_by_path_line_rule_and_repeatable()
    {
        string diff = Diffs.AddedFile("z.js", "debugger; ") + Diffs.AddedFile("a.txt", "x ", $"t={GitHubToken} ");
        IReadOnlyList<Finding> first = Review(diff);
        first.Select(f => (f.Path, f.Line, f.Rule)).ShouldBe(
        [
            ("a.txt", 1, "whitespace"),
            ("a.txt", 2, "secret-token"),
            ("a.txt", 2, "whitespace"),
            ("z.js", 1, "debug-leftover"),
            ("z.js", 1, "whitespace"),
        ]);
        Review(diff).ShouldBe(first);
    }

    [Fact]
    public async Task Key_conflict_and_whitespace_added_on_a_branch_are_found_at_heads_lines()
    {
        // The issue's E2E scenario, without the sandbox: a head branch adds a private key, a conflict marker
        // and trailing whitespace to files that already exist.
        using var repo = await DiffRepository.CreateAsync(
            ("README.md", "# Demo\n\nIntro.\n"),
            ("src/app.py", "def main():\n    return 1\n"));
        await repo.CommitAsync(
            ("README.md", "# Demo\n\nIntro.\n<<<<<<< HEAD\nours\n=======\ntheirs\n>>>>>>> other\n"),
            ("src/app.py", "def main():\n    value = 1 \n    return value\n"),
            ("deploy/key.pem", $"{BeginRsa}\n{KeyBody}\n{KeyBody}\n-----END RSA PRIVATE KEY-----\n"));

        IReadOnlyList<Finding> findings = new RulesReviewer().Review(ReviewContext.Build(await repo.ParseAsync()));

        findings.Select(f => (f.Path, f.Line, f.Rule)).ShouldBe(
        [
            ("README.md", 4, "conflict-marker"),
            ("deploy/key.pem", 1, "private-key"),
            ("src/app.py", 2, "whitespace"),
        ]);
    }
}
