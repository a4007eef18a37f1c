using AutoReview.Gateway.Git;
using AutoReview.Gateway.Output;
using AutoReview.Gateway.Review;
using AutoReview.Gateway.Tests.Git;
using AutoReview.TestInfrastructure;
using Shouldly;
using Xunit;

namespace AutoReview.Gateway.Tests;

/// <summary>
/// The inner gateway's whole job, in-process with the host's git: which commits it compares by default, what it
/// finds, and what it says when it cannot or will not do all of it.
/// </summary>
public sealed class ReviewJobTests : IDisposable
{
    private readonly HermeticGit git = new();
    private readonly TemporaryDirectory work = new();

    public void Dispose()
    {
        work.Dispose();
        git.Dispose();
    }

    private ReviewRequest Local(string path, string? @base = null, string? head = null, long maxDiffBytes = 16L * 1024 * 1024)
    {
        string dir = Directory.CreateDirectory(work.Combine($"job-{Guid.NewGuid():N}")).FullName;
        return new ReviewRequest
        {
            LocalPath = path,
            Base = @base,
            Head = head,
            WorkDirectory = dir,
            Git = new GitSourceOptions { GitPath = GitTestSupport.GitPath, HomeDirectory = Directory.CreateDirectory(Path.Combine(dir, "home")).FullName },
            MaxDiffBytes = maxDiffBytes,
        };
    }

    private async Task<RepositoryBuilder> FeatureRepositoryAsync()
    {
        RepositoryBuilder repo = await RepositoryBuilder.CreateAsync(git);
        await repo.CommitAsync("base", ("src/app.py", "def main():\n    return 0\n"));
        await repo.CreateBranchAsync("feature");
        repo.WriteFile("src/app.py", "def main():\n    value = 1   \n    return value\n");
        repo.WriteFile("src/merge.py", "a = 1\n<<<<<<< HEAD\nb = 2\n=======\nb = 3\n>>>>>>> other\n");
        byte[] blob = new byte[2 * 1024 * 1024];
        new Random(42).NextBytes(blob);
        File.WriteAllBytes(Path.Combine(repo.WorkingDirectory, "assets/model.bin").EnsureParent(), blob);
        await repo.CommitAsync("feature work");
        return repo;
    }

    [Fact]
    public async Task A_local_repository_is_compared_with_main_by_default_and_every_rule_sees_its_part()
    {
        using RepositoryBuilder repo = await FeatureRepositoryAsync();
        string mainSha = await repo.RevParseAsync("main");
        string headSha = await repo.RevParseAsync("HEAD");

        FindingsReport report = await ReviewJob.RunAsync(Local(repo.WorkingDirectory));

        report.Findings.ShouldContain(new Finding("src/app.py", 2, Severity.Warning, RulesReviewer.WhitespaceRule, "trailing whitespace"));
        report.Findings.ShouldContain(f => f.Rule == RulesReviewer.ConflictMarkerRule && f.Path == "src/merge.py" && f.Line == 2);
        // The size came from ls-tree: an unknown size would say so.
        report.Findings.ShouldContain(f => f.Rule == RulesReviewer.LargeBinaryRule && f.Path == "assets/model.bin" && f.Message.Contains("2097152 bytes"));
        report.Notes.ShouldContain($"reviewed {mainSha}...{headSha} (merge base {mainSha})");
    }

    [Fact]
    public async Task The_upstreams_default_branch_wins_over_main()
    {
        using RepositoryBuilder upstream = await RepositoryBuilder.CreateAsync(git, initialBranch: "trunk");
        string trunkSha = await upstream.CommitAsync("base", ("a.txt", "one\n"));
        using var clone = new TemporaryDirectory();
        await git.RunCheckedAsync(clone.Path, ["clone", "--quiet", upstream.WorkingDirectory, "checkout"]);
        string checkout = Path.Combine(clone.Path, "checkout");
        await git.RunCheckedAsync(checkout, ["branch", "main"]);
        File.WriteAllText(Path.Combine(checkout, "a.txt"), "one\ntwo \n");
        await git.RunCheckedAsync(checkout, ["commit", "--quiet", "-am", "change"]);

        FindingsReport report = await ReviewJob.RunAsync(Local(checkout));

        report.Notes.Last().ShouldStartWith($"reviewed {trunkSha}...");
        report.Findings.ShouldHaveSingleItem().Rule.ShouldBe(RulesReviewer.WhitespaceRule);
    }

    [Fact]
    public async Task A_head_already_in_base_says_there_is_nothing_to_review()
    {
        using RepositoryBuilder repo = await FeatureRepositoryAsync();

        FindingsReport report = await ReviewJob.RunAsync(Local(repo.WorkingDirectory, @base: "feature", head: "main"));

        report.Findings.ShouldBeEmpty();
        report.Notes.ShouldContain("head is already part of base: there is nothing to review (name another base with --base)");
    }

    [Fact]
    public async Task Without_origin_HEAD_or_main_the_base_must_be_named()
    {
        using RepositoryBuilder repo = await RepositoryBuilder.CreateAsync(git, initialBranch: "develop");
        await repo.CommitAsync("one", ("a.txt", "a\n"));

        ArgumentException e = await Should.ThrowAsync<ArgumentException>(() => ReviewJob.RunAsync(Local(repo.WorkingDirectory)));

        e.Message.ShouldContain("--base");
    }

    [Fact]
    public async Task A_diff_over_the_cap_is_cut_at_a_file_boundary_with_a_note()
    {
        using RepositoryBuilder repo = await RepositoryBuilder.CreateAsync(git);
        await repo.CommitAsync("base", ("README.md", "hello\n"));
        await repo.CreateBranchAsync("feature");
        repo.WriteFile("a_small.txt", "trailing \n");
        repo.WriteFile("b_huge.txt", string.Concat(Enumerable.Repeat("a line of text that fills the diff\n", 20_000)));
        repo.WriteFile("c_small.txt", "also trailing \n");
        await repo.CommitAsync("big");

        FindingsReport report = await ReviewJob.RunAsync(Local(repo.WorkingDirectory, maxDiffBytes: 100_000));

        report.Notes.ShouldContain(n => n.Contains("the diff is over 100000 bytes"));
        report.Findings.ShouldContain(f => f.Path == "a_small.txt");
        report.Findings.ShouldNotContain(f => f.Path == "c_small.txt");
    }

    [Fact]
    public async Task A_remote_source_without_head_compares_its_HEAD_with_main()
    {
        using RepositoryBuilder repo = await FeatureRepositoryAsync();
        using var projectRoot = new TemporaryDirectory();
        string bare = GitHttpsServer.CreateBareRepository(projectRoot.Path, "demo.git");
        await repo.PushAsync(bare);
        await git.RunCheckedAsync(bare, ["symbolic-ref", "HEAD", "refs/heads/feature"]);
        using var ca = TestCertificateAuthority.Create();
        string caFile = ca.WriteCaPem(work.Combine("ca.pem"));
        await using GitHttpsServer server = await GitHttpsServer.StartAsync(projectRoot.Path, ca);
        ReviewRequest request = Local(".") with
        {
            LocalPath = null,
            RepositoryUrl = server.RepositoryUri("demo.git"),
            Git = Local(".").Git with { AllowlistedEnvironment = new Dictionary<string, string> { ["GIT_SSL_CAINFO"] = caFile } },
        };

        FindingsReport report = await ReviewJob.RunAsync(request);

        report.Notes.Last().ShouldStartWith($"reviewed {await repo.RevParseAsync("main")}...{await repo.RevParseAsync("feature")}");
        report.Findings.Select(f => f.Rule).Distinct().ShouldBe(
            [RulesReviewer.LargeBinaryRule, RulesReviewer.WhitespaceRule, RulesReviewer.ConflictMarkerRule], ignoreOrder: true);
    }

    [Fact]
    public async Task Both_sources_or_neither_is_refused()
    {
        ReviewRequest neither = Local(".") with { LocalPath = null };
        (await Should.ThrowAsync<ArgumentException>(() => ReviewJob.RunAsync(neither))).Message.ShouldContain("exactly one source");
        ReviewRequest both = Local(".") with { RepositoryUrl = new Uri("https://example.invalid/r.git") };
        (await Should.ThrowAsync<ArgumentException>(() => ReviewJob.RunAsync(both))).Message.ShouldContain("exactly one source");
    }
}

internal static class PathExtensions
{
    public static string EnsureParent(this string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        return path;
    }
}
