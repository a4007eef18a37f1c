using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Text;
using AutoReview.TestInfrastructure;
using Shouldly;
using Xunit;

namespace AutoReview.Bundle.Tests.Infrastructure;

/// <summary>
/// The test git server against the host's real git: clones over HTTPS on 127.0.0.1 verify the throwaway CA,
/// speak protocol v2 when asked, and the request log shows what git actually sent.
/// </summary>
public sealed class GitHttpsServerTests : IAsyncLifetime
{
    private readonly TemporaryDirectory scratch = new("ar-gitsrv-test-");
    private readonly TestCertificateAuthority ca = TestCertificateAuthority.Create();
    private readonly HermeticGit git = new();
    private GitHttpsServer server = null!;
    private string caPem = null!;
    private string mainCommit = null!;
    private string featureCommit = null!;

    private string ProjectRoot => scratch.Combine("repos");

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(ProjectRoot);
        caPem = ca.WriteCaPem(scratch.Combine("ca.pem"));

        // main has A.txt and B.txt; feature adds C.txt ("X") and modifies B.txt.
        using RepositoryBuilder repo = await RepositoryBuilder.CreateAsync(git);
        mainCommit = await repo.CommitAsync("initial", ("A.txt", "alpha\n"), ("B.txt", "bravo\n"));
        await repo.CreateBranchAsync("feature");
        featureCommit = await repo.CommitAsync("feature work", ("C.txt", "X\n"), ("B.txt", "bravo, changed\n"));
        await repo.PushAsync(GitHttpsServer.CreateBareRepository(ProjectRoot, "demo.git"));

        server = await GitHttpsServer.StartAsync(ProjectRoot, ca);
    }

    public async Task DisposeAsync()
    {
        await server.DisposeAsync();
        git.Dispose();
        ca.Dispose();
        scratch.Dispose();
    }

    private Dictionary<string, string> TrustTestCa => new() { ["GIT_SSL_CAINFO"] = caPem };

    private Task<ProcessResult> CloneAsync(string target, IReadOnlyDictionary<string, string>? env, params string[] options) =>
        git.RunAsync(scratch.Path, ["clone", .. options, server.RepositoryUri("demo.git").ToString(), target], env);

    [Fact]
    public async Task CloneOverHttps_TrustingTheTestCa_GetsEveryBranchWithItsFiles()
    {
        ProcessResult clone = await CloneAsync("clone", TrustTestCa);

        clone.Succeeded.ShouldBeTrue(clone.ToString());
        string work = scratch.Combine("clone");
        (await git.RunCheckedAsync(work, ["rev-parse", "HEAD"])).Trim().ShouldBe(mainCommit);
        (await git.RunCheckedAsync(work, ["rev-parse", "origin/feature"])).Trim().ShouldBe(featureCommit);
        File.ReadAllText(Path.Combine(work, "A.txt")).ShouldBe("alpha\n");
        File.ReadAllText(Path.Combine(work, "B.txt")).ShouldBe("bravo\n");
        File.Exists(Path.Combine(work, "C.txt")).ShouldBeFalse();

        await git.RunCheckedAsync(work, ["checkout", "--quiet", "feature"]);
        File.ReadAllText(Path.Combine(work, "A.txt")).ShouldBe("alpha\n");
        File.ReadAllText(Path.Combine(work, "B.txt")).ShouldBe("bravo, changed\n");
        File.ReadAllText(Path.Combine(work, "C.txt")).ShouldBe("X\n");
        (await git.RunCheckedAsync(work, ["diff", "--name-status", "main", "feature"])).ShouldBe("M\tB.txt\nA\tC.txt\n");

        server.Requests.ShouldNotBeEmpty();
        server.Requests.ShouldAllBe(r => r.RemoteAddress == "127.0.0.1" && r.StatusCode == 200);
        server.Requests[0].Method.ShouldBe("GET");
        server.Requests[0].Path.ShouldBe("/demo.git/info/refs");
        server.Requests[0].QueryString.ShouldBe("?service=git-upload-pack");
        server.BackendErrors.ShouldBeEmpty();
    }

    [Theory]
    [InlineData("HTTP/1.1", "HTTP/1.1")]
    [InlineData("HTTP/2", "HTTP/2")]
    public async Task Clone_WorksOverEitherHttpVersion(string gitHttpVersion, string seenByServer)
    {
        ProcessResult clone = await CloneAsync("clone", TrustTestCa, "-c", $"http.version={gitHttpVersion}");

        clone.Succeeded.ShouldBeTrue(clone.ToString());
        File.ReadAllText(scratch.Combine("clone", "B.txt")).ShouldBe("bravo\n");
        server.Requests.ShouldAllBe(r => r.HttpProtocol == seenByServer);
    }

    [SkippableTheory]
    [InlineData("HTTP/1.1")]
    [InlineData("HTTP/2")]
    public async Task LargePush_StreamedWithoutContentLength_ReachesTheRepository(string gitHttpVersion)
    {
        // libcurl before 8.2 can stall on the last part of an HTTP/2 request body (curl PR #11342): about one push
        // in eight hung here until the timeout with Debian 12's 7.88. The client is at fault, and the product never
        // uploads; clones over HTTP/2 are tested above.
        Skip.If(gitHttpVersion == "HTTP/2" && SystemLibcurlVersion() is { } libcurl && libcurl < new Version(8, 2),
            $"this machine's libcurl {SystemLibcurlVersion()} stalls HTTP/2 uploads (fixed in curl 8.2, curl PR #11342)");
        // Past http.postBuffer (1 MiB by default) git streams the pack with no Content-Length (chunked on HTTP/1.1),
        // so http-backend must read the body to EOF: random bytes do not compress below that.
        string bare = GitHttpsServer.CreateBareRepository(ProjectRoot, "writable.git", allowAnonymousPush: true);
        using (RepositoryBuilder seed = await RepositoryBuilder.CreateAsync(git))
        {
            await seed.CommitAsync("initial", ("README", "seed\n"));
            await seed.PushAsync(bare);
        }
        var http = new Dictionary<string, string>(TrustTestCa);
        (await git.RunAsync(scratch.Path, ["clone", server.RepositoryUri("writable.git").ToString(), "writer"], http)).Succeeded.ShouldBeTrue();
        string work = scratch.Combine("writer");
        byte[] noise = new byte[3 * 1024 * 1024];
        new Random(1234).NextBytes(noise);
        await File.WriteAllBytesAsync(Path.Combine(work, "noise.bin"), noise);
        await git.RunCheckedAsync(work, ["add", "noise.bin"]);
        await git.RunCheckedAsync(work, ["commit", "--quiet", "-m", "big"]);
        string pushed = (await git.RunCheckedAsync(work, ["rev-parse", "HEAD"])).Trim();

        ProcessResult push = await git.RunAsync(work, ["-c", $"http.version={gitHttpVersion}", "push", "origin", "main"], http);

        push.Succeeded.ShouldBeTrue(push.ToString());
        (await git.RunCheckedAsync(bare, ["rev-parse", "main"])).Trim().ShouldBe(pushed);
        server.Requests.ShouldContain(
            r => r.Method == "POST" && r.Path == "/writable.git/git-receive-pack" && r.ContentLength == null && r.StatusCode == 200 && r.HttpProtocol == gitHttpVersion,
            string.Join('\n', server.Requests));
        server.BackendErrors.ShouldBeEmpty();
    }

    [Fact]
    public async Task CloneOverHttps_WithoutTheTestCa_FailsCertificateVerification_BeforeAnyHttpRequest()
    {
        ProcessResult clone = await CloneAsync("untrusted", env: null);

        clone.Succeeded.ShouldBeFalse(clone.ToString());
        // OpenSSL builds say "SSL certificate problem: …"; Debian's GnuTLS build says "server certificate verification failed".
        clone.Stderr.ShouldMatch("(?i)certificate", clone.ToString());
        server.Requests.ShouldBeEmpty("TLS must fail before any HTTP request reaches the server");
        Directory.Exists(scratch.Combine("untrusted")).ShouldBeFalse();
    }

    [Fact]
    public async Task ProtocolV2Clone_NegotiatesVersion2_AndFetchesThroughUploadPackPosts()
    {
        var env = new Dictionary<string, string>(TrustTestCa) { ["GIT_TRACE_PACKET"] = "1" };
        ProcessResult clone = await CloneAsync("v2", env, "-c", "protocol.version=2");

        clone.Succeeded.ShouldBeTrue(clone.ToString());
        clone.Stderr.ShouldContain("git< version 2", Case.Sensitive, "the server's advertisement must be protocol v2");
        // The packet trace names the sending process ("clone> command=ls-refs"); the name is git's business.
        clone.Stderr.ShouldMatch(@"packet:\s+\S+> command=ls-refs");
        clone.Stderr.ShouldMatch(@"packet:\s+\S+> command=fetch");

        IReadOnlyList<GitRequest> log = server.Requests;
        log.Count.ShouldBe(3, string.Join('\n', log));
        log[0].ShouldSatisfyAllConditions(
            r => r.Method.ShouldBe("GET"),
            r => r.Path.ShouldBe("/demo.git/info/refs"),
            r => r.GitProtocol.ShouldBe("version=2"));
        // v2 is one POST per command: ls-refs, then fetch.
        log.Skip(1).ShouldAllBe(r => r.Method == "POST" && r.Path == "/demo.git/git-upload-pack" && r.StatusCode == 200 && r.GitProtocol == "version=2");
        File.ReadAllText(scratch.Combine("v2", "B.txt")).ShouldBe("bravo\n");
    }

    [Fact]
    public async Task ProtocolV0Clone_SendsNoGitProtocolHeader_AndFetchesInOnePost()
    {
        ProcessResult clone = await CloneAsync("v0", TrustTestCa, "-c", "protocol.version=0");

        clone.Succeeded.ShouldBeTrue(clone.ToString());
        IReadOnlyList<GitRequest> log = server.Requests;
        log.ShouldAllBe(r => r.GitProtocol == null);
        log.Count(r => r.Method == "POST" && r.Path == "/demo.git/git-upload-pack").ShouldBe(1, string.Join('\n', log));
    }

    [Fact]
    public async Task LargeFetchRequest_GzippedByGit_IsInflatedByHttpBackend()
    {
        // 40 branches with distinct tips: the fetch request's "want" lines pass 1 KiB, so git gzips the POST body.
        using (RepositoryBuilder repo = await RepositoryBuilder.CreateAsync(git))
        {
            await repo.CommitAsync("root", ("README", "many branches\n"));
            for (int i = 0; i < 40; i++)
            {
                await repo.CreateBranchAsync($"topic-{i:00}", "main");
                await repo.CommitAsync($"topic {i}", ($"topic-{i:00}.txt", $"{i}\n"));
            }
            await repo.PushAsync(GitHttpsServer.CreateBareRepository(ProjectRoot, "many.git"));
        }

        ProcessResult clone = await git.RunAsync(scratch.Path, ["clone", "--mirror", server.RepositoryUri("many.git").ToString(), "many"], TrustTestCa);

        clone.Succeeded.ShouldBeTrue(clone.ToString());
        (await git.RunCheckedAsync(scratch.Combine("many"), ["for-each-ref", "--format=%(refname)", "refs/heads/"])).Split('\n', StringSplitOptions.RemoveEmptyEntries).Length.ShouldBe(41);
        server.Requests.ShouldContain(r => r.Method == "POST" && r.ContentEncoding == "gzip" && r.StatusCode == 200, string.Join('\n', server.Requests));
    }

    [Fact]
    public async Task CloneOfMissingRepository_Is404_AndGitSaysNotFound()
    {
        ProcessResult clone = await git.RunAsync(scratch.Path, ["clone", server.RepositoryUri("absent.git").ToString(), "absent"], TrustTestCa);

        clone.Succeeded.ShouldBeFalse();
        clone.Stderr.ShouldContain("not found", Case.Insensitive, clone.ToString());
        server.Requests.ShouldContain(r => r.Path == "/absent.git/info/refs" && r.StatusCode == 404);
    }

    [Fact]
    public async Task AnonymousPushOverHttps_IsRefused()
    {
        await CloneAsync("pusher", TrustTestCa);
        string work = scratch.Combine("pusher");
        await File.WriteAllTextAsync(Path.Combine(work, "D.txt"), "delta\n");
        await git.RunCheckedAsync(work, ["add", "D.txt"]);
        await git.RunCheckedAsync(work, ["commit", "--quiet", "-m", "try to push"]);

        ProcessResult push = await git.RunAsync(work, ["push", "origin", "main"], TrustTestCa);

        push.Succeeded.ShouldBeFalse(push.ToString());
        server.Requests.ShouldContain(r => r.QueryString == "?service=git-receive-pack" && r.StatusCode == 403);
        (await git.RunCheckedAsync(Path.Combine(ProjectRoot, "demo.git"), ["rev-parse", "main"])).Trim().ShouldBe(mainCommit);
    }

    [Fact]
    public async Task DisposeAsync_WithARequestStuckInHttpBackend_KillsTheBackendAndReturns()
    {
        // A POST that announces 1000 body bytes and sends 4: http-backend waits on stdin for the rest.
        using var tcp = new TcpClient();
        using var connect = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await tcp.ConnectAsync(IPAddress.Loopback, server.BaseUri.Port, connect.Token);
        using SocketsHttpHandler trust = ca.CreateTrustingHandler();
        await using var tls = new SslStream(tcp.GetStream());
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = "127.0.0.1",
            ApplicationProtocols = [SslApplicationProtocol.Http11],
            RemoteCertificateValidationCallback = trust.SslOptions.RemoteCertificateValidationCallback,
        }, connect.Token);
        await tls.WriteAsync(Encoding.ASCII.GetBytes(
            "POST /demo.git/git-upload-pack HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
            "Content-Type: application/x-git-upload-pack-request\r\nContent-Length: 1000\r\n\r\n0000"), connect.Token);
        await tls.FlushAsync(connect.Token);

        int backend = await WaitForAsync(() => server.RunningBackendProcessIds.FirstOrDefault(), TimeSpan.FromSeconds(10));
        File.ReadAllText($"/proc/{backend}/cmdline").ShouldContain("http-backend");

        var stopwatch = System.Diagnostics.Stopwatch.StartNew();
        await server.DisposeAsync();

        stopwatch.Elapsed.ShouldBeLessThan(TimeSpan.FromSeconds(20));
        await WaitForAsync(() => !Directory.Exists($"/proc/{backend}") || IsZombie(backend), TimeSpan.FromSeconds(10));
        server.RunningBackendProcessIds.ShouldBeEmpty();
    }

    private static bool IsZombie(int pid)
    {
        try
        {
            string stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)..].StartsWith('Z');
        }
        catch (IOException)
        {
            return true; // gone between the checks
        }
    }

    private static async Task<T> WaitForAsync<T>(Func<T> probe, TimeSpan timeout)
    {
        var stopwatch = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            T value = probe();
            if (!EqualityComparer<T>.Default.Equals(value, default))
                return value;
            if (stopwatch.Elapsed > timeout)
                throw new TimeoutException($"condition not met within {timeout.TotalSeconds:0} s");
            await Task.Delay(50);
        }
    }

    [Fact]
    public async Task DisposeAsync_StopsTheListener()
    {
        (await LoopbackProbe.IsAcceptingAsync(server.BaseUri)).ShouldBeTrue();

        await server.DisposeAsync();

        (await LoopbackProbe.IsAcceptingAsync(server.BaseUri)).ShouldBeFalse();
    }

    /// <summary>The version of Debian's libcurl3-gnutls (the libcurl git links here), or null where dpkg does not know it.</summary>
    private static Version? SystemLibcurlVersion()
    {
        const string status = "/var/lib/dpkg/status";
        if (!File.Exists(status))
            return null;
        string[] lines = File.ReadAllLines(status);
        int package = Array.IndexOf(lines, "Package: libcurl3-gnutls");
        string? version = package < 0 ? null : lines.Skip(package).TakeWhile(l => l.Length > 0).FirstOrDefault(l => l.StartsWith("Version: ", StringComparison.Ordinal));
        var match = version is null ? null : System.Text.RegularExpressions.Regex.Match(version, @"Version: (?:\d+:)?(\d+)\.(\d+)");
        return match is { Success: true } ? new Version(int.Parse(match.Groups[1].Value), int.Parse(match.Groups[2].Value)) : null;
    }
}
