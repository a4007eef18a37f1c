using AutoReview.TestInfrastructure;
using Shouldly;
using Xunit;

namespace AutoReview.Review.Tests;

/// <summary>
/// The command, end to end: <c>auto-review review https://127.0.0.1:PORT/repo.git --ca-file ca.pem --format sarif</c>
/// against the loopback forge. The gateway runs in the sandbox, whose only way out is the egress proxy, so every
/// request the forge records went through that proxy.
/// </summary>
[Trait("Category", "Review")]
public sealed class HttpsReviewTests : IClassFixture<ForgeFixture>, IDisposable
{
    private readonly ForgeFixture forge;
    private readonly TemporaryDirectory work = new("ar-review-https-");

    public HttpsReviewTests(ForgeFixture forge) => this.forge = forge;

    public void Dispose() => work.Dispose();

    [SkippableFact]
    public void Sarif_over_https_without_head_reports_the_key_the_conflict_and_the_whitespace_at_their_lines()
    {
        Sandboxes.Require();
        int before = forge.Server.Requests.Count;

        CommandResult result = Run.AutoReview("review", forge.RepositoryUrl, "--ca-file", forge.CaFile, "--format", "sarif");

        result.ExitCode.ShouldBe(1, result.ToString());
        (string version, IReadOnlyList<ReportedFinding> results, IReadOnlyList<string> notes) = Reports.ParseSarif(result.Stdout);
        version.ShouldBe("2.1.0");
        ProblemRepository.ShouldBeTheExpectedFindings(results, result.ToString());
        results.Single(r => r.Rule == "private-key").Message.ShouldContain("RSA PRIVATE KEY");
        results.Single(r => r.Rule == "conflict-marker").Message.ShouldContain("lines 5, 7, 9");
        results.Single(r => r.Rule == "whitespace").Message.ShouldBe("trailing whitespace");
        // base = main, head = the remote's HEAD (feature): the note names exactly these commits.
        notes.ShouldContain($"reviewed {forge.BaseSha}...{forge.HeadSha} (merge base {forge.BaseSha})");
        // Nothing of the key's body reaches the report.
        result.Stdout.ShouldNotContain("MII");
        result.ShouldHaveNoStackTrace();

        // The fetch happened, over smart HTTP, from the proxy on this machine's loopback (the sandbox has no other route).
        GitRequest[] requests = forge.Server.Requests.Skip(before).ToArray();
        requests.ShouldContain(r => r.Method == "GET" && r.Path == "/repo.git/info/refs" && r.QueryString == "?service=git-upload-pack" && r.StatusCode == 200,
            string.Join("\n", requests.Select(r => r.ToString())));
        requests.ShouldContain(r => r.Method == "POST" && r.Path == "/repo.git/git-upload-pack" && r.StatusCode == 200);
        requests.ShouldAllBe(r => r.Path.StartsWith("/repo.git/", StringComparison.Ordinal) && r.RemoteAddress.Contains("127.0.0.1"));
        requests.ShouldNotContain(r => r.Path.EndsWith("git-receive-pack", StringComparison.Ordinal));
        forge.Server.BackendErrors.ShouldBeEmpty();
    }

    [SkippableFact]
    public void Output_file_receives_the_report_stdout_stays_empty_and_the_exit_status_is_1()
    {
        Sandboxes.Require();
        string report = work.Combine("report.sarif");

        CommandResult result = Run.AutoReview("review", forge.RepositoryUrl, "--ca-file", forge.CaFile, "--format", "sarif", "--output", report);

        result.ExitCode.ShouldBe(1, result.ToString());
        result.Stdout.ShouldBeEmpty();
        result.Stderr.ShouldContain($"report written to {report}");
        result.Stderr.ShouldContain("3 findings (2 errors, 1 warning) in 3 files");
        (string version, IReadOnlyList<ReportedFinding> results, _) = Reports.ParseSarif(File.ReadAllText(report));
        version.ShouldBe("2.1.0");
        ProblemRepository.ShouldBeTheExpectedFindings(results, result.ToString());
        // Written atomically: no temporary file is left next to the report.
        Directory.EnumerateFileSystemEntries(work.Path).Select(Path.GetFileName).ShouldBe(["report.sarif"]);
    }

    [SkippableFact]
    public void Fail_on_never_exits_0_with_the_same_findings()
    {
        Sandboxes.Require();

        CommandResult result = Run.AutoReview("review", forge.RepositoryUrl, "--ca-file", forge.CaFile, "--format", "json", "--fail-on", "never");

        result.ExitCode.ShouldBe(0, result.ToString());
        (IReadOnlyList<ReportedFinding> findings, _) = Reports.ParseJson(result.Stdout);
        ProblemRepository.ShouldBeTheExpectedFindings(findings, result.ToString());
    }

    [SkippableFact]
    public void Fail_on_error_exits_1_for_the_errors_and_an_explicit_base_and_head_give_the_same_review()
    {
        Sandboxes.Require();

        CommandResult result = Run.AutoReview("review", forge.RepositoryUrl, "--ca-file", forge.CaFile, "--format", "json",
            "--base", "main", "--head", "feature", "--fail-on", "error");

        result.ExitCode.ShouldBe(1, result.ToString());
        (IReadOnlyList<ReportedFinding> findings, IReadOnlyList<string> notes) = Reports.ParseJson(result.Stdout);
        ProblemRepository.ShouldBeTheExpectedFindings(findings, result.ToString());
        notes.ShouldContain($"reviewed {forge.BaseSha}...{forge.HeadSha} (merge base {forge.BaseSha})");
    }

    [SkippableFact]
    public void Verbose_review_logs_the_egress_it_allowed_to_the_forge_and_denies_nothing()
    {
        Sandboxes.Require();

        CommandResult result = Run.AutoReview("review", forge.RepositoryUrl, "--ca-file", forge.CaFile, "--verbose");

        result.ExitCode.ShouldBe(1, result.ToString());
        result.Stderr.ShouldContain($"egress proxy allowing 127.0.0.1:{forge.Port}");
        result.Stderr.ShouldContain($" egress allowed 127.0.0.1:{forge.Port} from ");
        result.Stderr.ShouldNotContain("egress denied");
        result.Stderr.ShouldContain("auto-review: gateway: fetching main and HEAD from ");
        result.Stdout.ShouldStartWith("## auto-review: 3 findings (2 errors, 1 warning) in 3 files\n");
        result.ShouldHaveNoStackTrace();
    }

    [SkippableFact]
    public void Without_the_ca_file_the_forge_is_not_trusted_and_the_review_fails_with_status_3()
    {
        Sandboxes.Require();

        CommandResult result = Run.AutoReview("review", forge.RepositoryUrl);

        result.ExitCode.ShouldBe(3, result.ToString());
        result.Stdout.ShouldBeEmpty();
        result.Stderr.ShouldContain("certificate");
        result.ShouldHaveNoStackTrace();
    }
}
