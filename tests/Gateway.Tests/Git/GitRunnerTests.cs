using System.Diagnostics;
using AutoReview.Gateway.Git;
using AutoReview.TestInfrastructure;
using Shouldly;
using Xunit;
using GitCommandException = AutoReview.Gateway.Git.GitCommandException;

namespace AutoReview.Gateway.Tests.Git;

public sealed class GitRunnerTests
{
    private const string Token = "ghp_s3cr3tT0kenValue1234567890";

    [Fact]
    public async Task A_token_echoed_in_stderr_never_appears_in_the_exception()
    {
        using var home = new TemporaryDirectory();
        GitRunner runner = GitTestSupport.Runner(home, [Token]);
        await runner.RunAsync(["init", "--quiet", "--bare", "--template=", home.Combine("repo.git")]);
        GitCommandException e = await Should.ThrowAsync<GitCommandException>(() =>
            runner.RunAsync([$"--git-dir={home.Combine("repo.git")}", "show", Token]));
        e.ExitCode.ShouldBe(128);
        e.StderrTail.ShouldContain("ambiguous argument '[REDACTED]'");
        e.Message.ShouldNotContain(Token);
        e.CommandLine.ShouldEndWith("show [REDACTED]");
    }

    [Fact]
    public async Task Userinfo_in_a_url_is_redacted_from_the_command_line_and_stderr()
    {
        using var home = new TemporaryDirectory();
        GitRunner runner = GitTestSupport.Runner(home, [Token]);
        GitCommandException e = await Should.ThrowAsync<GitCommandException>(() =>
            runner.RunAsync(["ls-remote", $"https://someone:{Token}@127.0.0.1:1/repo.git"]));
        e.Message.ShouldNotContain(Token);
        e.Message.ShouldNotContain("someone");
        e.CommandLine.ShouldContain("https://[REDACTED]@127.0.0.1:1/repo.git");
        runner.Redact("see https://user:pw@host/x and http://a@b/").ShouldBe("see https://[REDACTED]@host/x and http://[REDACTED]@b/");
    }

    [Fact]
    public async Task A_git_that_runs_past_the_timeout_is_killed_with_its_children()
    {
        using var home = new TemporaryDirectory();
        string marker = home.Combine("sleep-survived");
        GitRunner runner = GitTestSupport.Runner(home, timeout: TimeSpan.FromSeconds(1));
        var clock = Stopwatch.StartNew();
        GitCommandException e = await Should.ThrowAsync<GitCommandException>(() =>
            runner.RunAsync(["-c", $"alias.hang=!sleep 4 && touch {marker}", "hang"], home.Path));
        clock.Elapsed.ShouldBeLessThan(TimeSpan.FromSeconds(4));
        e.TimedOut.ShouldBeTrue();
        e.ExitCode.ShouldBeNull();
        e.Message.ShouldStartWith("git command timed out and was killed: git ");
        await Task.Delay(TimeSpan.FromSeconds(5));
        File.Exists(marker).ShouldBeFalse("the shell child of git outlived the kill");
    }

    [Fact]
    public async Task Output_over_the_cap_is_truncated_and_flagged()
    {
        using var home = new TemporaryDirectory();
        var runner = new GitRunner(GitTestSupport.GitPath, HermeticGitEnvironment.Create(home.Path), maxOutputBytes: 100);
        GitResult result = await runner.RunAsync(["-c", "alias.big=!seq 1 100000", "big"], home.Path);
        result.Stdout.Length.ShouldBe(100);
        result.StdoutTruncated.ShouldBeTrue();
    }

    [Fact]
    public async Task A_missing_git_binary_gives_a_clear_error()
    {
        using var home = new TemporaryDirectory();
        var runner = new GitRunner(home.Combine("no-such-git"), HermeticGitEnvironment.Create(home.Path));
        GitCommandException e = await Should.ThrowAsync<GitCommandException>(() => runner.RunAsync(["version"]));
        e.Message.ShouldContain("could not run");
        e.Message.ShouldContain("no-such-git");
    }
}
