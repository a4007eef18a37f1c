using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Text;
using AutoReview.Egress.Tests.Infrastructure;
using AutoReview.TestInfrastructure;
using Shouldly;
using Xunit;

namespace AutoReview.Egress.Tests;

/// <summary>.NET's HttpClient, configured with the proxy as the sandbox's will be, doing HTTPS end to end through the tunnel.</summary>
public sealed class TlsThroughProxyTests : IDisposable
{
    private const string Greeting = "hello through the tunnel";
    private readonly TestCertificateAuthority ca = TestCertificateAuthority.Create();
    private readonly LogSink log = new();
    private readonly TestResolver resolver = new TestResolver().Map("localhost", IPAddress.Loopback);

    public void Dispose() => ca.Dispose();

    [Theory]
    [InlineData("localhost", false)]   // a name, guard off for the loopback destination
    [InlineData("127.0.0.1", true)]    // a literal address, allowed literally, guard on
    public async Task AnHttpsRequest_SucceedsThroughTheProxy_WhenTheHostIsAllowed(string host, bool guard)
    {
        await using LoopbackServer server = StartHttpsServer();
        await using ConnectProxy proxy = StartProxy(EgressPolicy.Parse([$"{host}:{server.Port}"]), guard);
        using HttpClient client = ClientThrough(proxy);

        string body = await client.GetStringAsync($"https://{host}:{server.Port}/status");

        body.ShouldBe(Greeting);
        EgressLogEntry entry = await log.WaitForAsync(e => e.Decision == EgressOutcome.Allowed);
        entry.Host.ShouldBe(host);
        entry.BytesUp.ShouldBeGreaterThan(0);
        entry.BytesDown.ShouldBeGreaterThan(0);
    }

    [Fact]
    public async Task AnHttpsRequest_FailsWith403_WhenTheHostIsNotAllowed()
    {
        await using LoopbackServer server = StartHttpsServer();
        await using ConnectProxy proxy = StartProxy(EgressPolicy.Parse(["api.example.com"]), guard: false);
        using HttpClient client = ClientThrough(proxy);

        var e = await Should.ThrowAsync<HttpRequestException>(() => client.GetStringAsync($"https://localhost:{server.Port}/status"));

        e.Message.ShouldContain("403");
        EgressLogEntry entry = log.Entries.ShouldHaveSingleItem();
        entry.Decision.ShouldBe(EgressOutcome.Denied);
        entry.Destination.ShouldBe($"localhost:{server.Port}");
        server.Accepted.ShouldBe(0);
        resolver.Queries.ShouldBeEmpty();
    }

    private ConnectProxy StartProxy(EgressPolicy policy, bool guard) =>
        ConnectProxy.StartLoopback(policy, new ConnectProxyOptions { Resolver = resolver.ResolveAsync, Log = log.Add, BlockNonPublicAddresses = guard });

    private HttpClient ClientThrough(ConnectProxy proxy)
    {
        SocketsHttpHandler handler = ca.CreateTrustingHandler();
        handler.UseProxy = true;
        handler.Proxy = new WebProxy($"http://127.0.0.1:{proxy.Port}") { BypassProxyOnLocal = false };
        return new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(20) };
    }

    /// <summary>A one-response HTTPS server on 127.0.0.1 with the test CA's certificate (SslStream over a plain socket).</summary>
    private LoopbackServer StartHttpsServer() => LoopbackServer.Start(async (socket, ct) =>
    {
        await using var ssl = new SslStream(new NetworkStream(socket, ownsSocket: false));
        await ssl.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
        {
            ServerCertificate = ca.ServerCertificate,
            ApplicationProtocols = [SslApplicationProtocol.Http11],
        }, ct);
        var head = new List<byte>();
        byte[] one = new byte[1];
        while (!(head.Count >= 4 && head[^4] == '\r' && head[^3] == '\n' && head[^2] == '\r' && head[^1] == '\n'))
        {
            if (await ssl.ReadAsync(one, ct) == 0)
                return;
            head.Add(one[0]);
        }
        Encoding.ASCII.GetString(head.ToArray()).ShouldStartWith("GET /status HTTP/1.1\r\n");
        byte[] body = Encoding.ASCII.GetBytes(Greeting);
        await ssl.WriteAsync(Encoding.ASCII.GetBytes($"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n"), ct);
        await ssl.WriteAsync(body, ct);
        await ssl.ShutdownAsync();
        socket.Shutdown(SocketShutdown.Send);
    });
}
