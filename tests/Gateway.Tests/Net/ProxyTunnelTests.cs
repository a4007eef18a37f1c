using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using AutoReview.Egress;
using AutoReview.Gateway.Net;
using AutoReview.TestInfrastructure;
using Shouldly;
using Xunit;

namespace AutoReview.Gateway.Tests.Net;

/// <summary>
/// The llm client's route out of the sandbox: every connection a CONNECT tunnel through the real egress proxy,
/// for http:// endpoints too, with the target's name resolved by the proxy.
/// </summary>
public sealed class ProxyTunnelTests : IAsyncLifetime
{
    private OpenAiCompatibleServer server = null!;
    private readonly ConcurrentQueue<EgressLogEntry> log = new();

    public async Task InitializeAsync() => server = await OpenAiCompatibleServer.StartAsync();

    public async Task DisposeAsync() => await server.DisposeAsync();

    private ConnectProxy StartProxy(EgressPolicy policy, HostResolver? resolver = null) =>
        ConnectProxy.StartLoopback(policy, resolver is null
            ? new ConnectProxyOptions { Log = log.Enqueue }
            : new ConnectProxyOptions { Log = log.Enqueue, Resolver = resolver, BlockNonPublicAddresses = false });

    private static Task<HttpResponseMessage> PostAsync(HttpClient client, Uri uri) =>
        client.PostAsJsonAsync(uri, new { model = "m", messages = new[] { new { role = "user", content = "hello" } } });

    [Fact]
    public async Task A_plain_http_endpoint_is_reached_through_a_CONNECT_tunnel_the_proxy_allowed()
    {
        await using ConnectProxy proxy = StartProxy(EgressPolicy.Parse([server.BaseUri.Authority]));
        server.Enqueue("""{"findings":[]}""");
        using var client = new HttpClient(ProxyTunnel.CreateHandler(new Uri($"http://127.0.0.1:{proxy.Port}")));

        using HttpResponseMessage response = await PostAsync(client, server.ChatCompletionsUri);

        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        server.Requests.Count.ShouldBe(1);
        client.Dispose();
        await proxy.DisposeAsync();
        EgressLogEntry entry = log.ShouldHaveSingleItem();
        entry.Decision.ShouldBe(EgressOutcome.Allowed);
        entry.Destination.ShouldBe(server.BaseUri.Authority);
        entry.BytesUp.ShouldBeGreaterThan(0);
    }

    [Fact]
    public async Task A_destination_outside_the_allowlist_fails_with_the_proxys_status_and_is_logged()
    {
        await using ConnectProxy proxy = StartProxy(EgressPolicy.Parse(["api.example.com"]));
        using var client = new HttpClient(ProxyTunnel.CreateHandler(new Uri($"http://127.0.0.1:{proxy.Port}")));

        HttpRequestException e = await Should.ThrowAsync<HttpRequestException>(() => PostAsync(client, server.ChatCompletionsUri));

        e.Message.ShouldContain($"the egress proxy refused a tunnel to {server.BaseUri.Authority}");
        e.Message.ShouldContain("403");
        server.Requests.ShouldBeEmpty();
        await proxy.DisposeAsync();
        log.ShouldContain(entry => entry.Decision == EgressOutcome.Denied && entry.Destination == server.BaseUri.Authority);
    }

    [Fact]
    public async Task The_name_is_sent_to_the_proxy_unresolved()
    {
        var asked = new ConcurrentQueue<string>();
        int port = server.BaseUri.Port;
        await using ConnectProxy proxy = StartProxy(EgressPolicy.Parse([$"llm.example.test:{port}"]), (host, _) =>
        {
            asked.Enqueue(host);
            return Task.FromResult(new[] { IPAddress.Loopback });
        });
        server.Enqueue("""{"findings":[]}""");
        using var client = new HttpClient(ProxyTunnel.CreateHandler(new Uri($"http://127.0.0.1:{proxy.Port}")));

        using HttpResponseMessage response = await PostAsync(client, new Uri($"http://llm.example.test:{port}/v1/chat/completions"));

        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        asked.ShouldBe(["llm.example.test"]);
    }

    [Fact]
    public async Task An_unreachable_proxy_is_named_in_the_error()
    {
        using var closed = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        closed.Start();
        int port = ((IPEndPoint)closed.LocalEndpoint).Port;
        closed.Stop();
        using var client = new HttpClient(ProxyTunnel.CreateHandler(new Uri($"http://127.0.0.1:{port}")));

        HttpRequestException e = await Should.ThrowAsync<HttpRequestException>(() => PostAsync(client, server.ChatCompletionsUri));

        e.Message.ShouldContain($"cannot reach the egress proxy at 127.0.0.1:{port}");
    }

    [Theory]
    [InlineData("https://127.0.0.1:3128")]
    [InlineData("socks5://127.0.0.1:1080")]
    public void Only_an_http_proxy_url_is_accepted(string proxy) =>
        Should.Throw<ArgumentException>(() => ProxyTunnel.CreateHandler(new Uri(proxy))).Message.ShouldContain("must be an http:// URL");
}
