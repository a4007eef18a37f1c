using AutoReview.TestInfrastructure;
using Shouldly;
using Xunit;

namespace AutoReview.Review.Tests;

/// <summary>
/// A local repository (a working tree or a bare repository), read in place through a read-only bind, with the
/// rules reviewer: the default network is none, and --network none may be given explicitly.
/// </summary>
[Trait("Category", "Review")]
public sealed class LocalSourceTests : IAsyncLifetime
{
    private readonly HermeticGit git = new();
    private readonly TemporaryDirectory work = new("ar-review-local-");
    private RepositoryBuilder repo = null!;
    private string baseSha = "", headSha = "";

    public async Task InitializeAsync() => (repo, baseSha, headSha) = await ProblemRepository.CreateAsync(git);

    public Task DisposeAsync()
    {
        repo?.Dispose();
        work.Dispose();
        git.Dispose();
        return Task.CompletedTask;
    }

    [SkippableFact]
    public void Network_none_review_of_a_working_tree_finds_the_problems()
    {
        Sandboxes.Require();

        CommandResult result = Run.AutoReview("review", repo.WorkingDirectory, "--network", "none", "--format", "sarif", "--verbose");

        result.ExitCode.ShouldBe(1, result.ToString());
        (_, IReadOnlyList<ReportedFinding> results, IReadOnlyList<string> notes) = Reports.ParseSarif(result.Stdout);
        ProblemRepository.ShouldBeTheExpectedFindings(results, result.ToString());
        notes.ShouldContain($"reviewed {baseSha}...{headSha} (merge base {baseSha})");
        result.Stderr.ShouldContain("network: none (loopback only)");
        result.Stderr.ShouldNotContain("egress");
        result.ShouldHaveNoStackTrace();
    }

    [SkippableFact]
    public void A_device_as_output_is_written_in_place_not_renamed_over()
    {
        Sandboxes.Require();

        CommandResult toNull = Run.AutoReview("review", repo.WorkingDirectory, "--output", "/dev/null");
        CommandResult toStdout = Run.AutoReview("review", repo.WorkingDirectory, "--output", "/dev/stdout", "--format", "json");

        toNull.ExitCode.ShouldBe(1, toNull.ToString());
        toNull.Stdout.ShouldBeEmpty();
        toNull.Stderr.ShouldContain("report written to /dev/null");
        toStdout.ExitCode.ShouldBe(1, toStdout.ToString());
        ProblemRepository.ShouldBeTheExpectedFindings(Reports.ParseJson(toStdout.Stdout).Findings, toStdout.ToString());
    }

    [SkippableFact]
    [Trait("Category", "RequiresRoot")] // .ci/run runs this category as root
    public void A_repository_owned_by_another_user_is_reviewed_in_place_isolated_and_bare()
    {
        Skip.IfNot(Commands.Run("/usr/bin/id", ["-u"]).Stdout.Trim() == "0", "giving the repository to another user needs root");
        Sandboxes.Require();
        // Inside the sandbox, an owner outside the single-id mapping shows as the overflow uid: git's ownership check
        // would refuse the repository without the gateway's safe.directory.
        CommandResult chown = Commands.Run("/usr/bin/chown", ["-R", "12345:54321", repo.WorkingDirectory]);
        chown.ExitCode.ShouldBe(0, chown.ToString());
        CommandResult chmod = Commands.Run("/usr/bin/chmod", ["-R", "a+rX", repo.WorkingDirectory]);
        chmod.ExitCode.ShouldBe(0, chmod.ToString());

        foreach (string[] mode in new[] { Array.Empty<string>(), ["--bare"] })
        {
            CommandResult result = Run.AutoReview(["review", repo.WorkingDirectory, "--format", "json", .. mode]);
            result.ExitCode.ShouldBe(1, result.ToString());
            ProblemRepository.ShouldBeTheExpectedFindings(Reports.ParseJson(result.Stdout).Findings, result.ToString());
        }
    }

    [SkippableFact]
    [Trait("Category", "RequiresRoot")] // .ci/run runs this category as root
    public void A_repository_only_root_could_read_is_refused_naming_its_host_path()
    {
        Skip.IfNot(Commands.Run("/usr/bin/id", ["-u"]).Stdout.Trim() == "0", "giving the repository to another user needs root");
        Sandboxes.Require();
        // Root reads it on the host through its capabilities; in the sandbox nothing has any, as for an ordinary user.
        CommandResult chown = Commands.Run("/usr/bin/chown", ["12345:54321", repo.WorkingDirectory]);
        chown.ExitCode.ShouldBe(0, chown.ToString());
        File.SetUnixFileMode(repo.WorkingDirectory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);

        CommandResult result = Run.AutoReview("review", repo.WorkingDirectory);

        result.ExitCode.ShouldBe(2, result.ToString());
        result.Stderr.ShouldContain($"auto-review: {repo.WorkingDirectory} cannot be read: permission denied.");
        result.Stderr.ShouldNotContain("/work/source");
        result.ShouldHaveNoStackTrace();
    }

    [SkippableFact]
    public void The_default_for_a_local_source_with_rules_is_no_network()
    {
        Sandboxes.Require();

        CommandResult result = Run.AutoReview("review", repo.WorkingDirectory, "--format", "json", "--verbose");

        result.ExitCode.ShouldBe(1, result.ToString());
        result.Stderr.ShouldContain("network: none (loopback only)");
        ProblemRepository.ShouldBeTheExpectedFindings(Reports.ParseJson(result.Stdout).Findings, result.ToString());
    }

    [SkippableFact]
    public void With_no_source_the_current_directory_is_reviewed()
    {
        Sandboxes.Require();

        CommandResult result = Run.AutoReview(["review", "--format", "json"], workingDirectory: repo.WorkingDirectory);

        result.ExitCode.ShouldBe(1, result.ToString());
        (IReadOnlyList<ReportedFinding> findings, IReadOnlyList<string> notes) = Reports.ParseJson(result.Stdout);
        ProblemRepository.ShouldBeTheExpectedFindings(findings, result.ToString());
        notes.ShouldContain($"reviewed {baseSha}...{headSha} (merge base {baseSha})");
    }

    [SkippableFact]
    public async Task A_bare_repository_path_is_reviewed_from_its_head_against_main()
    {
        Sandboxes.Require();
        string bare = GitHttpsServer.CreateBareRepository(work.Path, "local.git");
        await repo.PushAsync(bare);
        await ProblemRepository.PointHeadAtAsync(git, bare, "feature");

        CommandResult result = Run.AutoReview("review", bare, "--network", "none", "--format", "json");

        result.ExitCode.ShouldBe(1, result.ToString());
        (IReadOnlyList<ReportedFinding> findings, IReadOnlyList<string> notes) = Reports.ParseJson(result.Stdout);
        ProblemRepository.ShouldBeTheExpectedFindings(findings, result.ToString());
        notes.ShouldContain($"reviewed {baseSha}...{headSha} (merge base {baseSha})");
    }

    [SkippableFact]
    public void Local_revisions_may_carry_ancestry_steps()
    {
        Sandboxes.Require();

        // feature~1 is main's commit: the same review as main...feature.
        CommandResult result = Run.AutoReview("review", repo.WorkingDirectory, "--base", "feature~1", "--head", "feature", "--format", "json");

        result.ExitCode.ShouldBe(1, result.ToString());
        (IReadOnlyList<ReportedFinding> findings, IReadOnlyList<string> notes) = Reports.ParseJson(result.Stdout);
        ProblemRepository.ShouldBeTheExpectedFindings(findings, result.ToString());
        notes.ShouldContain($"reviewed {baseSha}...{headSha} (merge base {baseSha})");
    }

    [SkippableFact]
    public void A_branch_without_changes_has_no_findings_and_exits_0()
    {
        Sandboxes.Require();

        CommandResult result = Run.AutoReview("review", repo.WorkingDirectory, "--base", "main", "--head", "main");

        result.ExitCode.ShouldBe(0, result.ToString());
        result.Stdout.ShouldStartWith("## auto-review: no findings\n");
        result.Stdout.ShouldContain("head is already part of base: there is nothing to review");
    }

    [SkippableFact]
    public void A_directory_that_is_not_a_repository_is_refused_with_status_2()
    {
        Sandboxes.Require();
        string plain = Directory.CreateDirectory(work.Combine("plain")).FullName;

        CommandResult result = Run.AutoReview("review", plain);

        result.ExitCode.ShouldBe(2, result.ToString());
        result.Stdout.ShouldBeEmpty();
        result.Stderr.ShouldContain("is not a git repository");
        result.ShouldHaveNoStackTrace();
    }
}
