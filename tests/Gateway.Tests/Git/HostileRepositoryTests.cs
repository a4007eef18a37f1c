using AutoReview.Gateway.Context;
using AutoReview.Gateway.Git;
using AutoReview.TestInfrastructure;
using Shouldly;
using Xunit;
using GitCommandException = AutoReview.Gateway.Git.GitCommandException;

namespace AutoReview.Gateway.Tests.Git;

/// <summary>
/// Repositories built to make git run a program: submodule URLs on <c>ext::</c>, committed hooks, a
/// <c>.git/config</c> with fsmonitor, hooksPath, external diff, textconv and pager commands. Each test proves the
/// canary file the attack would create is absent after clone, resolve and diff.
/// </summary>
public sealed class HostileRepositoryTests
{
    private const string Token = "forgejo_tok_9f8e7d6c5b4a";

    [Fact]
    public async Task Ext_submodule_url_and_committed_hooks_served_over_https_execute_nothing()
    {
        using var work = new TemporaryDirectory();
        string canary = work.Combine("pwned");
        using var git = new HermeticGit();
        using var repo = await RepositoryBuilder.CreateAsync(git);
        string baseSha = await repo.CommitAsync("base", ("README.md", "hello\n"));
        await repo.CreateBranchAsync("feature");
        repo.WriteFile(".gitmodules", $"[submodule \"evil\"]\n\tpath = evil\n\turl = ext::sh -c touch% {canary}\n");
        repo.WriteFile("hooks/post-checkout", $"#!/bin/sh\ntouch {canary}\n");
        repo.WriteFile(".githooks/pre-commit", $"#!/bin/sh\ntouch {canary}\n");
        repo.WriteFile("README.md", "hello\nworld\n");
        await repo.CommitAsync("add a submodule and hooks");
        // The gitlink goes straight into the index and is committed without "add -A" (which would drop it: no evil/ directory).
        await git.RunCheckedAsync(repo.WorkingDirectory, ["update-index", "--add", "--cacheinfo", $"160000,{baseSha},evil"]);
        await git.RunCheckedAsync(repo.WorkingDirectory, ["commit", "--quiet", "-m", "add the submodule gitlink"]);
        string headSha = await repo.RevParseAsync("HEAD");

        using var projectRoot = new TemporaryDirectory();
        await repo.PushAsync(GitHttpsServer.CreateBareRepository(projectRoot.Path, "hostile.git"));
        using var ca = TestCertificateAuthority.Create();
        string caFile = ca.WriteCaPem(work.Combine("ca.pem"));
        await using GitHttpsServer server = await GitHttpsServer.StartAsync(projectRoot.Path, ca);
        using var home = new TemporaryDirectory();
        GitSourceOptions options = GitTestSupport.Options(home, new Dictionary<string, string> { ["GIT_SSL_CAINFO"] = caFile });

        string destination = work.Combine("clone.git");
        (GitRepository clone, ResolvedRevisions revisions) =
            await RepositoryClone.CloneAsync(server.RepositoryUri("hostile.git"), destination, "main", "feature", options);
        revisions.ShouldBe(new ResolvedRevisions(baseSha, headSha, baseSha));
        UnifiedDiff diff = (await RepositoryClone.DiffAsync(clone, revisions.MergeBaseSha, revisions.HeadSha)).Parse();

        diff.Files.Select(f => f.Path).ShouldBe([".githooks/pre-commit", ".gitmodules", "README.md", "evil", "hooks/post-checkout"], ignoreOrder: true);
        File.Exists(canary).ShouldBeFalse("a hostile repository ran a command");
        Directory.Exists(Path.Combine(destination, "modules")).ShouldBeFalse("a submodule was fetched");
        Directory.Exists(Path.Combine(destination, "hooks")).ShouldBeFalse("the clone was created with an empty template");
        server.Requests.ShouldAllBe(r => r.Path.StartsWith("/hostile.git/", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Malicious_git_config_in_a_read_only_local_source_executes_nothing()
    {
        using var work = new TemporaryDirectory();
        string canary = work.Combine("pwned");
        using var git = new HermeticGit();
        using var repo = await RepositoryBuilder.CreateAsync(git);
        string baseSha = await repo.CommitAsync("base", ("a.txt", "one\n"), (".gitattributes", "* diff=evil\n"));
        await repo.CreateBranchAsync("feature");
        string headSha = await repo.CommitAsync("change", ("a.txt", "one\ntwo\n"));
        Directory.CreateDirectory(Path.Combine(repo.WorkingDirectory, ".git", "evil-hooks"));
        foreach (string hook in new[] { "post-checkout", "pre-auto-gc", "reference-transaction", "post-index-change" })
        {
            string path = Path.Combine(repo.WorkingDirectory, ".git", "evil-hooks", hook);
            File.WriteAllText(path, $"#!/bin/sh\ntouch {canary}\n");
            File.SetUnixFileMode(path, (UnixFileMode)0b111_101_101);
        }
        File.AppendAllText(Path.Combine(repo.WorkingDirectory, ".git", "config"),
            $"""
            [core]
            	fsmonitor = touch {canary}; echo
            	hooksPath = evil-hooks
            	pager = touch {canary}; cat
            [diff]
            	external = touch {canary}; true
            [diff "evil"]
            	textconv = touch {canary}; cat
            	command = touch {canary}; true
            [alias]
            	diff = !touch {canary}
            """ + "\n");

        // The attack is real: plain git with this config runs it.
        using (var probe = new TemporaryDirectory())
        {
            GitTestSupport.CopyDirectory(repo.WorkingDirectory, probe.Combine("r"));
            await git.RunAsync(probe.Combine("r"), ["diff", "main...feature"]);
            File.Exists(canary).ShouldBeTrue("the malicious config should fire without the hermetic options");
            File.Delete(canary);
        }

        string readOnly = work.Combine("source");
        GitTestSupport.CopyDirectory(repo.WorkingDirectory, readOnly);
        GitTestSupport.MakeReadOnly(readOnly);
        try
        {
            using var home = new TemporaryDirectory();
            GitRepository local = RepositoryClone.OpenLocal(readOnly, GitTestSupport.Options(home));
            ResolvedRevisions revisions = await RepositoryClone.ResolveAsync(local, "main", "feature");
            revisions.ShouldBe(new ResolvedRevisions(baseSha, headSha, baseSha));
            GitDiff diff = await RepositoryClone.DiffAsync(local, revisions.BaseSha, revisions.HeadSha);
            UnifiedDiff parsed = diff.Parse();
            parsed.Files.ShouldHaveSingleItem().Path.ShouldBe("a.txt");
            parsed.Files[0].Hunks.ShouldHaveSingleItem().Lines.ShouldContain(l => l.Kind == DiffLineKind.Added && l.Text == "two");
            File.Exists(canary).ShouldBeFalse("the local repository's config ran a command");
        }
        finally
        {
            GitTestSupport.MakeWritable(readOnly);
        }
    }

    [Theory]
    [InlineData("ext::sh -c touch% /tmp/pwned")]
    [InlineData("file:///etc")]
    [InlineData("ssh://git@example.com/repo.git")]
    [InlineData("http://example.com/repo.git")]
    [InlineData("git://example.com/repo.git")]
    public async Task Non_https_urls_are_refused(string url)
    {
        using var work = new TemporaryDirectory();
        using var home = new TemporaryDirectory();
        ArgumentException e = await Should.ThrowAsync<ArgumentException>(() =>
            RepositoryClone.CloneAsync(new Uri(url), work.Combine("c.git"), "main", "feature", GitTestSupport.Options(home)));
        e.Message.ShouldContain("only https:// is allowed");
        Directory.Exists(work.Combine("c.git")).ShouldBeFalse();
    }

    [Fact]
    public async Task Credentials_in_the_url_without_the_token_option_are_refused_without_echoing_them()
    {
        using var work = new TemporaryDirectory();
        using var home = new TemporaryDirectory();
        ArgumentException e = await Should.ThrowAsync<ArgumentException>(() =>
            RepositoryClone.CloneAsync(new Uri($"https://bot:{Token}@forge.example/o/r.git"), work.Combine("c.git"), "main", "feature", GitTestSupport.Options(home)));
        e.Message.ShouldContain("credentials in the URL are not allowed");
        e.Message.ShouldNotContain(Token);
    }

    [Theory]
    [InlineData("--upload-pack=touch /tmp/pwned", "main")]
    [InlineData("main", "-oProxyCommand=x")]
    [InlineData("HEAD@{1}", "main")]
    [InlineData("main", "a..b")]
    public async Task Hostile_refs_are_refused_before_git_runs(string baseRef, string headRef)
    {
        using var work = new TemporaryDirectory();
        using var home = new TemporaryDirectory();
        await Should.ThrowAsync<GitRefException>(() =>
            RepositoryClone.CloneAsync(new Uri("https://127.0.0.1:1/r.git"), work.Combine("c.git"), baseRef, headRef, GitTestSupport.Options(home)));
        Directory.Exists(work.Combine("c.git")).ShouldBeFalse();
    }

    [Fact]
    public async Task A_failed_fetch_with_a_token_never_shows_the_token()
    {
        using var work = new TemporaryDirectory();
        using var projectRoot = new TemporaryDirectory();
        using var ca = TestCertificateAuthority.Create();
        string caFile = ca.WriteCaPem(work.Combine("ca.pem"));
        await using GitHttpsServer server = await GitHttpsServer.StartAsync(projectRoot.Path, ca);
        using var home = new TemporaryDirectory();
        var url = new UriBuilder(server.RepositoryUri("missing.git")) { UserName = "bot", Password = Token }.Uri;
        GitCommandException e = await Should.ThrowAsync<GitCommandException>(() =>
            RepositoryClone.CloneAsync(url, work.Combine("c.git"), "main", "feature",
                GitTestSupport.Options(home, new Dictionary<string, string> { ["GIT_SSL_CAINFO"] = caFile }, Token)));
        e.Message.ShouldContain("fetch");
        e.Message.ShouldNotContain(Token);
        e.Message.ShouldNotContain(Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes($"bot:{Token}")));
    }
}
