using AutoReview.TestInfrastructure;
using Shouldly;
using Xunit;

namespace AutoReview.Bundle.Tests.Integration;

/// <summary>The embedded bundle in a real sandbox, as this (unprivileged, in CI) user, with a fresh cache.</summary>
[Trait("Category", "Bundle")]
public sealed class RuntimeSmokeTests : IAsyncLifetime
{
    private readonly IsolatedCache _cache = new();
    private readonly TemporaryDirectory _work = new("ar-smoke-");
    private readonly TestCertificateAuthority _ca = TestCertificateAuthority.Create();
    private readonly HermeticGit _git = new();
    private GitHttpsServer? _server;
    private string _caPem = "";

    public async Task InitializeAsync()
    {
        _caPem = _work.Combine("ca.pem");
        _ca.WriteCaPem(_caPem);
        string projects = _work.Combine("projects");
        Directory.CreateDirectory(projects);
        string bare = GitHttpsServer.CreateBareRepository(projects, "repo.git");
        using RepositoryBuilder builder = await RepositoryBuilder.CreateAsync(_git);
        await builder.CommitAsync("initial", ("README.md", "hello from the loopback forge\n"));
        await builder.PushAsync(bare);
        _server = await GitHttpsServer.StartAsync(projects, _ca);
    }

    public async Task DisposeAsync()
    {
        if (_server is not null) await _server.DisposeAsync();
        _ca.Dispose();
        _git.Dispose();
        _work.Dispose();
        _cache.Dispose();
    }

    [SkippableFact]
    public void GitRuns_InsideTheEmbeddedBundle()
    {
        Sandboxes.Require();
        CommandResult result = _cache.Run("sandbox", "run", "--", "/usr/bin/git", "--version");
        result.ExitCode.ShouldBe(0, result.ToString());
        result.Stdout.ShouldStartWith("git version ");
    }

    [SkippableFact]
    public void TheRootIsReadOnly_ExceptTmpStateAndWork()
    {
        Sandboxes.Require();
        CommandResult result = _cache.Run("sandbox", "run", "--", "/usr/bin/auto-review", "sandbox", "probe",
            "--expect-ro", "/usr", "--expect-ro", "/etc", "--expect-ro", "/usr/lib/git-core", "--expect-ro", "/var/lib",
            "--expect-writable", "/tmp", "--expect-writable", "/var/lib/auto_review", "--expect-writable", "/work");
        result.ExitCode.ShouldBe(0, result.ToString());
    }

    [SkippableFact]
    public void ThereIsNoShellInside()
    {
        Sandboxes.Require();
        CommandResult result = _cache.Run("sandbox", "run", "--", "/bin/sh", "-c", "true");
        result.ExitCode.ShouldBe(127, result.ToString());
    }

    [SkippableFact]
    public void GitClonesOverSmartHttps_TrustingTheCaOnlyThroughCaFile()
    {
        Sandboxes.Require();
        string url = new Uri(_server!.BaseUri, "repo.git").ToString();
        string output = _work.Combine("out");
        Directory.CreateDirectory(output);
        string[] clone = ["--network", "host", "--bind", output, "/work/out", "--", "/usr/bin/git", "clone", url, "/work/out/clone"];

        CommandResult untrusted = _cache.Run(["sandbox", "run", .. clone]);
        untrusted.ExitCode.ShouldNotBe(0, untrusted.ToString());
        untrusted.Stderr.ShouldContain("certificate");

        CommandResult trusted = _cache.Run(["sandbox", "run", "--ca-file", _caPem, .. clone]);
        trusted.ExitCode.ShouldBe(0, trusted.ToString());
        File.ReadAllText(Path.Combine(output, "clone", "README.md")).ShouldBe("hello from the loopback forge\n");
    }

    [SkippableFact]
    public void TheInnerGatewaysHttps_TrustsTheCaOnlyThroughCaFile()
    {
        Sandboxes.Require();
        string url = new Uri(_server!.BaseUri, "repo.git/info/refs?service=git-upload-pack").ToString();
        string[] fetch = ["--network", "host", "--", "/usr/bin/auto-review", "sandbox", "probe", "--fetch", url];

        CommandResult untrusted = _cache.Run(["sandbox", "run", .. fetch]);
        untrusted.Stdout.ShouldContain($"FAIL https:{url}");

        CommandResult trusted = _cache.Run(["sandbox", "run", "--ca-file", _caPem, .. fetch]);
        trusted.Stdout.ShouldContain($"ok   https:{url}", customMessage: trusted.ToString());
    }

    [Fact]
    public void CaFileThatIsNotPem_IsRefusedWithItsPath()
    {
        string bogus = _work.Combine("bogus.pem");
        File.WriteAllText(bogus, "not a certificate");
        CommandResult result = _cache.Run("sandbox", "run", "--ca-file", bogus, "--", "/usr/bin/git", "--version");
        result.ExitCode.ShouldBe(125);
        result.Stderr.ShouldContain(bogus);
        result.Stderr.ShouldNotContain("   at ");
    }
}
