using System.Net;
using AutoReview.Egress.Tests.Infrastructure;
using AutoReview.TestInfrastructure;
using Shouldly;
using Xunit;

namespace AutoReview.Egress.Tests;

/// <summary>Real git (libcurl) cloning over HTTPS through the proxy, as the inner gateway will.</summary>
public sealed class GitThroughProxyTests
{
    private readonly LogSink log = new();
    private readonly TestResolver resolver = new TestResolver().Map("localhost", IPAddress.Loopback);

    [SkippableTheory]
    [InlineData(false, false)] // localhost allowed, guard off for the loopback destination
    [InlineData(true, true)]   // guard on, and 127.0.0.1 listed literally as well
    public async Task GitClone_SucceedsThroughTheProxy_WhenTheForgeIsAllowed(bool guard, bool listLiteral)
    {
        Skip.If(Tools.FindOnPath("git") is null, "git is not installed");
        await using Forge forge = await Forge.StartAsync();
        int port = forge.Server.BaseUri.Port;
        EgressPolicy policy = EgressPolicy.Parse(listLiteral ? [$"localhost:{port}", $"127.0.0.1:{port}"] : [$"localhost:{port}"]);
        await using ConnectProxy proxy = ConnectProxy.StartLoopback(policy, new ConnectProxyOptions { Resolver = resolver.ResolveAsync, Log = log.Add, BlockNonPublicAddresses = guard });

        ProcessResult clone = await forge.CloneAsync(proxy.Port);

        clone.Succeeded.ShouldBeTrue(clone.ToString());
        File.ReadAllText(Path.Combine(forge.CloneDirectory, "README.md")).ShouldBe("cloned through the proxy\n");
        forge.Server.Requests.ShouldNotBeEmpty();
        EgressLogEntry entry = await log.WaitForAsync(e => e.Decision == EgressOutcome.Allowed);
        entry.Destination.ShouldBe($"localhost:{port}");
        log.Entries.ShouldAllBe(e => e.Decision == EgressOutcome.Allowed);
    }

    [SkippableFact]
    public async Task GitClone_FailsThroughTheProxy_WhenTheForgeIsNotAllowed_AndTheLogNamesIt()
    {
        Skip.If(Tools.FindOnPath("git") is null, "git is not installed");
        await using Forge forge = await Forge.StartAsync();
        int port = forge.Server.BaseUri.Port;
        await using ConnectProxy proxy = ConnectProxy.StartLoopback(EgressPolicy.Parse(["github.com"]), new ConnectProxyOptions { Resolver = resolver.ResolveAsync, Log = log.Add, BlockNonPublicAddresses = false });

        ProcessResult clone = await forge.CloneAsync(proxy.Port);

        clone.Succeeded.ShouldBeFalse();
        clone.Stderr.ShouldContain("403");
        forge.Server.Requests.ShouldBeEmpty();
        EgressLogEntry entry = await log.WaitForAsync(e => e.Decision == EgressOutcome.Denied);
        entry.Destination.ShouldBe($"localhost:{port}");
        entry.ToString().ShouldContain($"egress denied localhost:{port}");
    }

    /// <summary>A one-commit repository served by GitHttpsServer, and a place to clone it to.</summary>
    private sealed class Forge : IAsyncDisposable
    {
        private readonly TemporaryDirectory root = new("ar-egress-forge-");
        private readonly TemporaryDirectory work = new("ar-egress-clone-");
        private readonly TestCertificateAuthority ca = TestCertificateAuthority.Create();
        private readonly HermeticGit git = new();

        public GitHttpsServer Server { get; private set; } = null!;

        public string CloneDirectory => work.Combine("demo");

        public static async Task<Forge> StartAsync()
        {
            var forge = new Forge();
            using (RepositoryBuilder repo = await RepositoryBuilder.CreateAsync(forge.git))
            {
                await repo.CommitAsync("initial", ("README.md", "cloned through the proxy\n"));
                await repo.PushAsync(GitHttpsServer.CreateBareRepository(forge.root.Path, "demo.git"));
            }
            forge.Server = await GitHttpsServer.StartAsync(forge.root.Path, forge.ca);
            return forge;
        }

        /// <summary>Clones https://localhost:PORT/demo.git with the proxy set as the sandbox's git will have it.</summary>
        public Task<ProcessResult> CloneAsync(int proxyPort) =>
            git.RunAsync(work.Path,
                ["-c", $"http.proxy=http://127.0.0.1:{proxyPort}", "clone", "--quiet", $"https://localhost:{Server.BaseUri.Port}/demo.git", CloneDirectory],
                new Dictionary<string, string> { ["GIT_SSL_CAINFO"] = ca.WriteCaPem(work.Combine("ca.pem")) },
                timeout: TimeSpan.FromSeconds(30));

        public async ValueTask DisposeAsync()
        {
            if (Server is not null)
                await Server.DisposeAsync();
            git.Dispose();
            ca.Dispose();
            work.Dispose();
            root.Dispose();
        }
    }
}
