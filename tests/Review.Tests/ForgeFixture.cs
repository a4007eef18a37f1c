using AutoReview.TestInfrastructure;
using Xunit;

namespace AutoReview.Review.Tests;

/// <summary>
/// A loopback HTTPS forge (the real <c>git http-backend</c> behind TLS from a throwaway CA) serving
/// <c>repo.git</c>: the <see cref="ProblemRepository"/> with both branches pushed and HEAD on <c>feature</c>, so
/// that <c>auto-review review https://127.0.0.1:PORT/repo.git</c> needs no --head. Shared by the tests of a class.
/// </summary>
public sealed class ForgeFixture : IAsyncLifetime
{
    private readonly TemporaryDirectory work = new("ar-review-forge-");
    private readonly HermeticGit git = new();

    public TestCertificateAuthority Ca { get; } = TestCertificateAuthority.Create();

    public GitHttpsServer Server { get; private set; } = null!;

    /// <summary>The CA certificate in PEM, for --ca-file.</summary>
    public string CaFile { get; private set; } = "";

    public string BaseSha { get; private set; } = "";

    public string HeadSha { get; private set; } = "";

    public string RepositoryUrl => Server.RepositoryUri("repo.git").ToString();

    public int Port => Server.BaseUri.Port;

    public string Work => work.Path;

    public async Task InitializeAsync()
    {
        CaFile = Ca.WriteCaPem(work.Combine("ca.pem"));
        string projects = Directory.CreateDirectory(work.Combine("projects")).FullName;
        string bare = GitHttpsServer.CreateBareRepository(projects, "repo.git");
        (RepositoryBuilder repo, string baseSha, string headSha) = await ProblemRepository.CreateAsync(git);
        using (repo)
            await repo.PushAsync(bare);
        await ProblemRepository.PointHeadAtAsync(git, bare, "feature");
        (BaseSha, HeadSha) = (baseSha, headSha);
        Server = await GitHttpsServer.StartAsync(projects, Ca);
    }

    public async Task DisposeAsync()
    {
        if (Server is not null)
            await Server.DisposeAsync();
        Ca.Dispose();
        git.Dispose();
        work.Dispose();
    }
}
