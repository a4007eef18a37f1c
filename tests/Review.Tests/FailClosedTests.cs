using AutoReview.TestInfrastructure;
using Shouldly;
using Xunit;

namespace AutoReview.Review.Tests;

/// <summary>
/// Where the sandbox cannot be made, the review stops with 125 and the reason and never runs the gateway
/// unsandboxed. Reproduced for real: in a user namespace of its own, root may set user.max_user_namespaces to 0
/// for everything below it, which is what a machine with user namespaces disabled looks like.
/// </summary>
[Trait("Category", "Review")]
public sealed class FailClosedTests : IAsyncLifetime
{
    private const string Unshare = "/usr/bin/unshare";

    private readonly HermeticGit git = new();
    private RepositoryBuilder repo = null!;

    public async Task InitializeAsync() => repo = (await ProblemRepository.CreateAsync(git)).Repository;

    public Task DisposeAsync()
    {
        repo?.Dispose();
        git.Dispose();
        return Task.CompletedTask;
    }

    [SkippableFact]
    public void With_user_namespaces_disabled_the_review_exits_125_with_the_sysctl_fix_and_runs_nothing()
    {
        Sandboxes.Require();
        Sandboxes.RequireTool(Unshare);

        CommandResult result = Run.Program(Unshare,
        [
            "--user", "--map-root-user", "/bin/sh", "-c", "echo 0 > /proc/sys/user/max_user_namespaces && exec \"$@\"", "sh",
            AutoReviewBinary.Path, "review", repo.WorkingDirectory, "--format", "json",
        ]);

        result.ExitCode.ShouldBe(125, result.ToString());
        result.Stdout.ShouldBeEmpty();
        result.Stderr.ShouldContain("max_user_namespaces");
        result.Stderr.ShouldContain("sysctl");
        result.Stderr.ShouldContain("did not run anything unsandboxed");
        result.Stderr.ShouldNotContain("WARNING", Case.Sensitive);
        result.ShouldHaveNoStackTrace();
    }
}
