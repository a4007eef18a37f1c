using System.Text;
using AutoReview.TestInfrastructure;
using Shouldly;
using Xunit;

namespace AutoReview.Review.Tests;

/// <summary>
/// Input built to make the review run a program or read the wrong thing: a local repository whose own config and
/// hooks run commands, a forge repository with ext:: and file:// submodules, revisions that are git options, sources
/// on other transports, and a diff far over --max-diff-bytes. Every attack names a marker file it would create.
/// </summary>
[Trait("Category", "Review")]
public sealed class HostileInputTests : IDisposable
{
    private readonly HermeticGit git = new();
    private readonly Markers markers = new();
    private readonly TemporaryDirectory work = new("ar-review-hostile-");

    public void Dispose()
    {
        work.Dispose();
        markers.Dispose();
        git.Dispose();
    }

    // ---- (a) a local repository whose .git runs commands -----------------------------------------------------

    private static readonly string[] HookNames =
    [
        "pre-commit", "post-checkout", "post-merge", "pre-push", "reference-transaction", "post-index-change",
        "pre-auto-gc", "post-rewrite", "fsmonitor-watchman", "push-to-checkout",
    ];

    /// <summary>The problem repository, plus a .git/config, .git/info/attributes and .git/hooks that each run
    /// <c>touch MARKER</c> if git ever lets them.</summary>
    private async Task<RepositoryBuilder> HostileLocalRepositoryAsync()
    {
        (RepositoryBuilder repo, _, _) = await ProblemRepository.CreateAsync(git);
        string dotGit = Path.Combine(repo.WorkingDirectory, ".git");
        File.AppendAllText(Path.Combine(dotGit, "config"),
            $"""
            [core]
            	fsmonitor = touch {markers.Path("core-fsmonitor")}; echo
            	pager = touch {markers.Path("core-pager")}; cat
            	sshCommand = touch {markers.Path("core-sshcommand")}; true
            	editor = touch {markers.Path("core-editor")}; true
            [diff]
            	external = touch {markers.Path("diff-external")}; true
            [diff "evil"]
            	textconv = touch {markers.Path("diff-textconv")}; cat
            	command = touch {markers.Path("diff-command")}; true
            [credential]
            	helper = !touch {markers.Path("credential-helper")}
            [uploadpack]
            	packObjectsHook = touch {markers.Path("uploadpack-hook")}; true
            [alias]
            	diff = !touch {markers.Path("alias-diff")}
            	rev-parse = !touch {markers.Path("alias-rev-parse")}
            """ + "\n");
        Directory.CreateDirectory(Path.Combine(dotGit, "info"));
        File.WriteAllText(Path.Combine(dotGit, "info", "attributes"), "* diff=evil\n");
        Directory.CreateDirectory(Path.Combine(dotGit, "hooks"));
        foreach (string hook in HookNames)
        {
            string path = Path.Combine(dotGit, "hooks", hook);
            File.WriteAllText(path, $"#!/bin/sh\ntouch {markers.Path("hook-" + hook)}\n");
            File.SetUnixFileMode(path, (UnixFileMode)0b111_101_101);
        }
        return repo;
    }

    [Fact]
    public async Task The_hostile_local_config_is_a_real_attack_for_plain_git()
    {
        using RepositoryBuilder repo = await HostileLocalRepositoryAsync();

        // Without the review's hermetic options, git runs the repository's commands (this is what the tests below defend against).
        ProcessResult diff = await git.RunAsync(repo.WorkingDirectory, ["diff", "main...feature"]);
        diff.ExitCode.ShouldBe(0, diff.ToString());
        await git.RunAsync(repo.WorkingDirectory, ["status"]);
        // The attributes pick the "evil" diff driver, whose command wins over diff.external; status runs fsmonitor.
        markers.Created.ShouldContain("diff-command");
        markers.Created.ShouldContain("core-fsmonitor");
    }

    [SkippableFact]
    public async Task Isolated_review_of_a_local_repository_whose_config_and_hooks_run_commands_runs_none_of_them()
    {
        Sandboxes.Require();
        using RepositoryBuilder repo = await HostileLocalRepositoryAsync();

        CommandResult result = Run.AutoReview("review", repo.WorkingDirectory, "--isolated", "--format", "json");

        result.ExitCode.ShouldBe(1, result.ToString());
        ProblemRepository.ShouldBeTheExpectedFindings(Reports.ParseJson(result.Stdout).Findings, result.ToString());
        markers.ShouldBeNoneCreated(result.ToString());
    }

    [Fact]
    public async Task Bare_review_of_a_local_repository_whose_config_and_hooks_run_commands_runs_none_of_them()
    {
        // --bare runs the host's git on the host: here the hermetic options are the only defence.
        using RepositoryBuilder repo = await HostileLocalRepositoryAsync();

        CommandResult result = Run.AutoReview("review", repo.WorkingDirectory, "--bare", "--format", "json");

        result.ExitCode.ShouldBe(1, result.ToString());
        result.Stderr.ShouldContain("auto-review: WARNING: --bare: the gateway runs WITHOUT isolation.");
        ProblemRepository.ShouldBeTheExpectedFindings(Reports.ParseJson(result.Stdout).Findings, result.ToString());
        markers.ShouldBeNoneCreated(result.ToString());
    }

    // ---- (b) submodules on ext:: and file:// served by the forge ------------------------------------------------

    /// <summary>A forge repository whose feature branch adds a .gitmodules with an <c>ext::</c> URL that would run
    /// <c>touch MARKER</c>, a <c>file://</c> URL, their gitlinks, a committed hook, and one whitespace error.</summary>
    private async Task<(GitHttpsServer Server, TestCertificateAuthority Ca, string CaFile, string BaseSha)> HostileForgeAsync(string gitmodulesExtra)
    {
        using RepositoryBuilder repo = await RepositoryBuilder.CreateAsync(git);
        string baseSha = await repo.CommitAsync("base", ("README.md", "hello\n"));
        await repo.CreateBranchAsync("feature");
        repo.WriteFile(".gitmodules",
            $"[submodule \"evil\"]\n\tpath = evil\n\turl = ext::sh -c touch% {markers.Path("ext-submodule")}\n" +
            $"[submodule \"local\"]\n\tpath = local\n\turl = file://{markers.Path("file-submodule")}\n" + gitmodulesExtra);
        repo.WriteFile("hooks/post-checkout", $"#!/bin/sh\ntouch {markers.Path("committed-hook")}\n");
        repo.WriteFile("README.md", "hello\nworld \n");
        await repo.CommitAsync("add submodules");
        await git.RunCheckedAsync(repo.WorkingDirectory, ["update-index", "--add", "--cacheinfo", $"160000,{baseSha},evil"]);
        await git.RunCheckedAsync(repo.WorkingDirectory, ["update-index", "--add", "--cacheinfo", $"160000,{baseSha},local"]);
        await git.RunCheckedAsync(repo.WorkingDirectory, ["commit", "--quiet", "-m", "the gitlinks"]);

        string projects = Directory.CreateDirectory(work.Combine($"projects-{Guid.NewGuid():N}")).FullName;
        string bareRepository = GitHttpsServer.CreateBareRepository(projects, "hostile.git");
        await repo.PushAsync(bareRepository);
        await ProblemRepository.PointHeadAtAsync(git, bareRepository, "feature");
        var ca = TestCertificateAuthority.Create();
        string caFile = ca.WriteCaPem(work.Combine($"ca-{Guid.NewGuid():N}.pem"));
        return (await GitHttpsServer.StartAsync(projects, ca), ca, caFile, baseSha);
    }

    [SkippableTheory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Forge_repository_with_ext_and_file_submodules_is_reviewed_without_running_or_fetching_them(bool bare)
    {
        if (!bare)
            Sandboxes.Require();
        (GitHttpsServer server, TestCertificateAuthority ca, string caFile, string baseSha) = await HostileForgeAsync("");
        await using GitHttpsServer serverLease = server;
        using TestCertificateAuthority caLease = ca;

        CommandResult result = Run.AutoReview(["review", server.RepositoryUri("hostile.git").ToString(), "--ca-file", caFile, "--format", "json",
            .. bare ? ["--bare"] : Array.Empty<string>()]);

        result.ExitCode.ShouldBe(1, result.ToString());
        (IReadOnlyList<ReportedFinding> findings, IReadOnlyList<string> notes) = Reports.ParseJson(result.Stdout);
        findings.Select(f => f.Key).ShouldBe([("whitespace", "README.md", 2, "warning")], result.ToString());
        notes.ShouldContain(n => n.StartsWith($"reviewed {baseSha}...", StringComparison.Ordinal));
        markers.ShouldBeNoneCreated(result.ToString());
        server.Requests.ShouldNotBeEmpty();
        server.Requests.ShouldAllBe(r => r.Path.StartsWith("/hostile.git/", StringComparison.Ordinal));
    }

    [SkippableTheory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Forge_repository_with_a_submodule_update_command_is_refused_by_the_fetch_and_runs_nothing(bool bare)
    {
        if (!bare)
            Sandboxes.Require();
        (GitHttpsServer server, TestCertificateAuthority ca, string caFile, _) =
            await HostileForgeAsync($"\tupdate = !touch {markers.Path("submodule-update")}\n");
        await using GitHttpsServer serverLease = server;
        using TestCertificateAuthority caLease = ca;

        CommandResult result = Run.AutoReview(["review", server.RepositoryUri("hostile.git").ToString(), "--ca-file", caFile,
            .. bare ? ["--bare"] : Array.Empty<string>()]);

        // git's fsck of the fetched pack rejects a .gitmodules "update = !command": the review fails, in one message.
        result.ExitCode.ShouldBe(3, result.ToString());
        result.Stdout.ShouldBeEmpty();
        result.Stderr.ShouldContain("disallowed submodule update setting");
        result.ShouldHaveNoStackTrace();
        markers.ShouldBeNoneCreated(result.ToString());
    }

    // ---- (c) revisions that are options or not ref names --------------------------------------------------------

    public static TheoryData<string, string, string> HostileLocalRevisions() => new()
    {
        { "--head", "--upload-pack=touch MARKER", "a ref name must not start with '-' (it would be read as an option)" },
        { "--base", "-oProxyCommand=touch MARKER", "a ref name must not start with '-'" },
        { "--head", "+refs/heads/feature:refs/heads/main", "a ref name must not start with '+'" },
        { "--base", "x;touch MARKER", "a ref name must not contain a space" },
        { "--head", "$(touch MARKER)", "a ref name must not contain a space" },
        { "--base", "main..feature", "a ref name must not contain '..'" },
        { "--head", "HEAD@{1}", "a ref name must not contain '@{'" },
        { "--head", "feature:main", "a ref name must not contain ':'" },
        { "--base", "main^{tree}", "after a ref name, only ancestry steps like ~2 or ^1 are allowed" },
        { "--base", "~1", "an ancestry step ('~' or '^') must follow a ref name or commit id" },
        { "--head", "feature~1234567", "an ancestry step must be at most 6 digits" },
    };

    [Theory]
    [MemberData(nameof(HostileLocalRevisions))]
    public async Task A_local_revision_that_is_not_a_ref_name_is_refused_with_status_2_naming_it(string option, string template, string rule)
    {
        using RepositoryBuilder repo = (await ProblemRepository.CreateAsync(git)).Repository;
        string value = template.Replace("MARKER", markers.Path("revision"), StringComparison.Ordinal);

        foreach (string[] mode in new[] { Array.Empty<string>(), ["--bare"] })
        {
            // OPTION=VALUE, so that the command-line parser hands a value starting with '-' to the option.
            CommandResult result = Run.AutoReview(["review", repo.WorkingDirectory, $"{option}={value}", .. mode]);

            result.ExitCode.ShouldBe(2, result.ToString());
            result.Stdout.ShouldBeEmpty();
            result.Stderr.ShouldContain($"auto-review: refused git revision '{value}': {rule}", Case.Sensitive, result.ToString());
            result.Stderr.ShouldNotContain("WARNING", Case.Sensitive); // refused before anything started
            result.ShouldHaveNoStackTrace();
        }
        markers.ShouldBeNoneCreated("");
    }

    public static TheoryData<string, string, string> HostileRemoteRevisions() => new()
    {
        { "--head", "--upload-pack=touch MARKER", "refused git revision '--upload-pack=touch MARKER': a ref name must not start with '-'" },
        { "--base", "main^", "refused git revision 'main^': a ref name must not contain '^'" },
        { "--head", "HEAD~1", "refused git revision 'HEAD~1': a ref name must not contain '~'" },
        { "--base", "main..feature", "refused git revision 'main..feature': a ref name must not contain '..'" },
        { "--head", "abc1234", "'abc1234': a server can be asked for a ref name or a full commit id, not an abbreviated one" },
    };

    [Theory]
    [MemberData(nameof(HostileRemoteRevisions))]
    public void A_remote_revision_that_a_server_cannot_be_asked_for_is_refused_with_status_2_naming_it(string option, string template, string message)
    {
        // Nothing listens on port 9: the refusal must come before any connection.
        string value = template.Replace("MARKER", markers.Path("revision"), StringComparison.Ordinal);

        CommandResult result = Run.AutoReview("review", "https://127.0.0.1:9/repo.git", $"{option}={value}");

        result.ExitCode.ShouldBe(2, result.ToString());
        result.Stdout.ShouldBeEmpty();
        result.Stderr.ShouldContain($"auto-review: {message.Replace("MARKER", markers.Path("revision"), StringComparison.Ordinal)}", Case.Sensitive, result.ToString());
        result.ShouldHaveNoStackTrace();
        markers.ShouldBeNoneCreated(result.ToString());
    }

    [Fact]
    public async Task An_option_given_as_the_head_value_is_an_unknown_option_with_status_2()
    {
        using RepositoryBuilder repo = (await ProblemRepository.CreateAsync(git)).Repository;

        CommandResult result = Run.AutoReview("review", repo.WorkingDirectory, "--head", $"--upload-pack=touch {markers.Path("upload-pack")}");

        result.ExitCode.ShouldBe(2, result.ToString());
        result.Stdout.ShouldBeEmpty();
        result.Stderr.ShouldContain("Option 'upload-pack' is unknown.");
        result.ShouldHaveNoStackTrace();
        markers.ShouldBeNoneCreated(result.ToString());
    }

    [SkippableFact]
    public async Task A_valid_ref_name_that_does_not_exist_fails_with_status_2_naming_it()
    {
        Sandboxes.Require();
        using RepositoryBuilder repo = (await ProblemRepository.CreateAsync(git)).Repository;

        // "x;y" is a valid ref name for git (check-ref-format accepts ';'), so it is looked up, not refused.
        CommandResult result = Run.AutoReview("review", repo.WorkingDirectory, "--base", "x;y");

        result.ExitCode.ShouldBe(2, result.ToString());
        result.Stdout.ShouldBeEmpty();
        result.Stderr.ShouldContain("unknown revision 'x;y': the repository has no such branch, tag or commit");
        result.ShouldHaveNoStackTrace();
        markers.ShouldBeNoneCreated(result.ToString());
    }

    // ---- (d) sources on other transports --------------------------------------------------------------------

    [Theory]
    [InlineData("ext::sh -c touch MARKER")]
    [InlineData("ssh://git@127.0.0.1/repo.git")]
    [InlineData("file:///tmp/repo.git")]
    [InlineData("git@127.0.0.1:repo.git")]
    [InlineData("http://127.0.0.1:1/repo.git")]
    [InlineData("git://127.0.0.1/repo.git")]
    [InlineData("fd::3")]
    public void A_source_on_another_transport_is_refused_with_status_2(string template)
    {
        string source = template.Replace("MARKER", markers.Path("source"), StringComparison.Ordinal);

        CommandResult result = Run.AutoReview("review", source);

        result.ExitCode.ShouldBe(2, result.ToString());
        result.Stdout.ShouldBeEmpty();
        result.Stderr.ShouldContain($"auto-review: SOURCE {source}: only https:// URLs and local paths can be reviewed");
        result.ShouldHaveNoStackTrace();
        markers.ShouldBeNoneCreated(result.ToString());
    }

    [Fact]
    public void A_source_that_does_not_exist_is_refused_with_status_2()
    {
        string missing = work.Combine("no-such-repository");

        CommandResult result = Run.AutoReview("review", missing);

        result.ExitCode.ShouldBe(2, result.ToString());
        result.Stderr.ShouldContain($"SOURCE {missing}: no such directory");
        result.ShouldHaveNoStackTrace();
    }

    // ---- (e) a diff far over --max-diff-bytes ----------------------------------------------------------------

    [SkippableFact]
    public async Task A_diff_over_max_diff_bytes_is_cut_at_a_file_boundary_with_a_note_and_the_remaining_findings_decide_the_status()
    {
        Sandboxes.Require();
        using RepositoryBuilder repo = await RepositoryBuilder.CreateAsync(git);
        await repo.CommitAsync("base", ("README.md", "hello\n"));
        await repo.CreateBranchAsync("feature");
        var big = new StringBuilder();
        for (int i = 0; big.Length < 600_000; i++)
            big.Append("data row ").Append(i).Append(": lorem ipsum dolor sit amet, consectetur adipiscing elit\n");
        // git orders the diff by path: a-first.txt, then m-big.txt (600 kB), then z-last.txt beyond the cut.
        await repo.CommitAsync("a large data file and two small ones",
            ("a-first.txt", "one\ntwo \nthree\n"),
            ("m-big.txt", big.ToString()),
            ("z-last.txt", "<<<<<<< HEAD\nours\n=======\ntheirs\n>>>>>>> feature\n"));

        CommandResult result = Run.AutoReview("review", repo.WorkingDirectory, "--max-diff-bytes", "200000", "--format", "json");

        result.ExitCode.ShouldBe(1, result.ToString());
        (IReadOnlyList<ReportedFinding> findings, IReadOnlyList<string> notes) = Reports.ParseJson(result.Stdout);
        // Only the file before the cut was reviewed: its whitespace warning stays, the conflict after the cut is unseen.
        findings.Select(f => f.Key).ShouldBe([("whitespace", "a-first.txt", 2, "warning")], result.ToString());
        notes.ShouldContain(n => n.StartsWith("the diff is over 200000 bytes; files after the first ", StringComparison.Ordinal)
                                 && n.EndsWith(" bytes were left out", StringComparison.Ordinal), result.ToString());

        // The same review fails only on errors: the remaining finding is a warning, so it passes.
        CommandResult errorsOnly = Run.AutoReview("review", repo.WorkingDirectory, "--max-diff-bytes", "200000", "--fail-on", "error");
        errorsOnly.ExitCode.ShouldBe(0, errorsOnly.ToString());
        errorsOnly.Stdout.ShouldContain("the diff is over 200000 bytes");

        // Without the cap the conflict is found (the cap, not the content, hid it).
        CommandResult whole = Run.AutoReview("review", repo.WorkingDirectory, "--format", "json");
        whole.ExitCode.ShouldBe(1, whole.ToString());
        Reports.ParseJson(whole.Stdout).Findings.ShouldContain(f => f.Rule == "conflict-marker" && f.Path == "z-last.txt" && f.Line == 1, whole.ToString());
    }
}
