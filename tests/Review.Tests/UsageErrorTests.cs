using AutoReview.TestInfrastructure;
using Shouldly;
using Xunit;

namespace AutoReview.Review.Tests;

/// <summary>Command lines that cannot work are refused with status 2 and one line saying why, before anything runs.</summary>
[Trait("Category", "Review")]
public sealed class UsageErrorTests : IAsyncLifetime
{
    private readonly HermeticGit git = new();
    private RepositoryBuilder repo = null!;

    public async Task InitializeAsync() => repo = (await ProblemRepository.CreateAsync(git)).Repository;

    public Task DisposeAsync()
    {
        repo?.Dispose();
        git.Dispose();
        return Task.CompletedTask;
    }

    private static void ShouldBeUsageError(CommandResult result, string message)
    {
        result.ExitCode.ShouldBe(2, result.ToString());
        result.Stdout.ShouldBeEmpty();
        result.Stderr.ShouldContain($"auto-review: {message}", Case.Sensitive, result.ToString());
        result.Stderr.ShouldNotContain("WARNING", Case.Sensitive);
        result.ShouldHaveNoStackTrace();
    }

    [Fact]
    public void Isolated_and_bare_together_are_refused() =>
        ShouldBeUsageError(Run.AutoReview("review", repo.WorkingDirectory, "--isolated", "--bare"), "--isolated and --bare exclude each other");

    [Fact]
    public void An_unknown_format_is_refused() =>
        ShouldBeUsageError(Run.AutoReview("review", repo.WorkingDirectory, "--format", "xml"), "--format xml: expected markdown, json or sarif");

    [Fact]
    public void An_unknown_fail_on_level_is_refused() =>
        ShouldBeUsageError(Run.AutoReview("review", repo.WorkingDirectory, "--fail-on", "fatal"), "--fail-on fatal: expected note, warning, error or never");

    [Fact]
    public void An_unknown_reviewer_is_refused() =>
        ShouldBeUsageError(Run.AutoReview("review", repo.WorkingDirectory, "--reviewer", "gpt"), "--reviewer gpt: expected rules or llm");

    [Fact]
    public void An_output_in_a_missing_directory_is_refused_before_the_review_runs()
    {
        string missing = Path.Combine(repo.WorkingDirectory, "no-such-dir", "report.sarif");
        ShouldBeUsageError(Run.AutoReview("review", repo.WorkingDirectory, "--output", missing),
            $"--output {missing}: the directory {Path.GetDirectoryName(missing)} does not exist");
    }

    [Fact]
    public void An_output_that_is_a_directory_is_refused() =>
        ShouldBeUsageError(Run.AutoReview("review", repo.WorkingDirectory, "--output", repo.WorkingDirectory),
            $"--output {repo.WorkingDirectory}: is a directory; name the report file");

    [Fact]
    public void A_max_diff_bytes_of_zero_is_refused() =>
        ShouldBeUsageError(Run.AutoReview("review", repo.WorkingDirectory, "--max-diff-bytes", "0"), "--max-diff-bytes 0: expected a positive number of bytes");

    [Fact]
    public void Network_none_with_a_url_source_is_refused_naming_the_proxy()
    {
        CommandResult result = Run.AutoReview("review", "https://127.0.0.1:9/repo.git", "--network", "none");

        ShouldBeUsageError(result, "--network none: the gateway could not reach 127.0.0.1:9");
        result.Stderr.ShouldContain("use --network proxy (the default)");
    }

    [Fact]
    public void Allow_host_without_the_proxy_is_refused() =>
        ShouldBeUsageError(Run.AutoReview("review", repo.WorkingDirectory, "--network", "none", "--allow-host", "127.0.0.1:9"),
            "--allow-host works with --network proxy only");

    [Fact]
    public void Network_with_bare_is_refused() =>
        ShouldBeUsageError(Run.AutoReview("review", repo.WorkingDirectory, "--bare", "--network", "host"),
            "--network applies to the sandbox; with --bare the gateway has this machine's network");

    [Fact]
    public void The_llm_reviewer_without_its_settings_is_refused_naming_llm_base_url()
    {
        // Run builds the environment from scratch: no LLM_* variable of this machine reaches the binary.
        CommandResult result = Run.AutoReview("review", repo.WorkingDirectory, "--reviewer", "llm");

        ShouldBeUsageError(result, "LLM_BASE_URL is not set; the llm reviewer needs LLM_BASE_URL, LLM_API_KEY and LLM_REASONING_MODEL");
    }

    [Fact]
    public void The_llm_reviewer_with_a_non_http_base_url_is_refused_without_echoing_the_key()
    {
        const string key = "sk-test-usage-0123456789abcdef";
        CommandResult result = Run.AutoReview(["review", repo.WorkingDirectory, "--reviewer", "llm"], environment: new Dictionary<string, string>
        {
            ["LLM_BASE_URL"] = "file:///etc/passwd",
            ["LLM_API_KEY"] = key,
            ["LLM_REASONING_MODEL"] = "m",
        });

        ShouldBeUsageError(result, "LLM_BASE_URL must be an absolute http:// or https:// URL");
        result.Stderr.ShouldNotContain(key);
    }

    [Fact]
    public void Bare_prints_the_warning_and_still_reviews()
    {
        CommandResult result = Run.AutoReview("review", repo.WorkingDirectory, "--bare", "--format", "json");

        result.ExitCode.ShouldBe(1, result.ToString());
        result.Stderr.ShouldStartWith("auto-review: WARNING: --bare: the gateway runs WITHOUT isolation. ");
        ProblemRepository.ShouldBeTheExpectedFindings(Reports.ParseJson(result.Stdout).Findings, result.ToString());
    }
}
