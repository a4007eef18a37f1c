using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using AutoReview.Egress.Tests.Infrastructure;
using Shouldly;
using Xunit;

namespace AutoReview.Egress.Tests;

/// <summary>The proxy over real sockets, every one of them on 127.0.0.1.</summary>
public sealed class ConnectProxyTests
{
    private readonly LogSink log = new();
    private readonly TestResolver resolver = new();

    private ConnectProxy Start(EgressPolicy policy, bool guard = true, TimeSpan? headTimeout = null, TimeSpan? idle = null,
        int maxConnections = 64, TimeSpan? resolveTimeout = null, Action<EgressLogEntry>? logSink = null) =>
        ConnectProxy.StartLoopback(policy, new ConnectProxyOptions
        {
            Resolver = resolver.ResolveAsync,
            Log = logSink ?? log.Add,
            BlockNonPublicAddresses = guard,
            RequestHeadTimeout = headTimeout ?? TimeSpan.FromSeconds(10),
            IdleTimeout = idle ?? TimeSpan.FromMinutes(1),
            MaxConnections = maxConnections,
            ResolveTimeout = resolveTimeout ?? TimeSpan.FromSeconds(10),
        });

    private static EgressPolicy Allow(params string[] entries) => EgressPolicy.Parse(entries);

    [Fact]
    public async Task AnAllowedTunnel_RelaysBytesBothWays_AndIsLoggedWithItsByteCounts()
    {
        await using var echo = LoopbackServer.Echo();
        await using ConnectProxy proxy = Start(Allow($"127.0.0.1:{echo.Port}"));

        (ProxyClient client, ProxyAnswer answer) = await ProxyClient.ConnectToAsync(proxy.Port, $"127.0.0.1:{echo.Port}");
        using (client)
        {
            answer.StatusLine.ShouldBe("HTTP/1.1 200 Connection established");
            await client.SendAsync("hello, destination");
            byte[] back = new byte[18];
            await client.ReadExactlyAsync(back, CancellationToken.None);
            Encoding.ASCII.GetString(back).ShouldBe("hello, destination");
            client.Socket.Shutdown(SocketShutdown.Send);
            (await client.ReadToEndAsync()).ShouldBeEmpty();
        }

        EgressLogEntry entry = await log.WaitForAsync(e => e.Decision == EgressOutcome.Allowed);
        entry.Host.ShouldBe("127.0.0.1");
        entry.Port.ShouldBe(echo.Port);
        entry.Status.ShouldBe(200);
        entry.BytesUp.ShouldBe(18);
        entry.BytesDown.ShouldBe(18);
        entry.Reason.ShouldBeNull();
        entry.ToString().ShouldContain($"egress allowed 127.0.0.1:{echo.Port}");
    }

    [Fact]
    public async Task FiveMegabytes_CrossTheTunnelBothWaysIntact()
    {
        const int size = 5 * 1024 * 1024;
        await using var echo = LoopbackServer.Echo();
        await using ConnectProxy proxy = Start(Allow($"127.0.0.1:{echo.Port}"));
        byte[] payload = RandomNumberGenerator.GetBytes(size);

        (ProxyClient client, ProxyAnswer answer) = await ProxyClient.ConnectToAsync(proxy.Port, $"127.0.0.1:{echo.Port}");
        using (client)
        {
            answer.Status.ShouldBe(200);
            // Send and receive at once: the echo pushes back while we still send, as a real transfer would.
            Task send = Task.Run(async () =>
            {
                await client.SendAsync(payload);
                client.Socket.Shutdown(SocketShutdown.Send);
            });
            byte[] received = await client.ReadToEndAsync(TimeSpan.FromSeconds(30));
            await send;
            received.Length.ShouldBe(size);
            SHA256.HashData(received).ShouldBe(SHA256.HashData(payload));
        }

        EgressLogEntry entry = await log.WaitForAsync(e => e.Decision == EgressOutcome.Allowed);
        entry.BytesUp.ShouldBe(size);
        entry.BytesDown.ShouldBe(size);
    }

    [Fact]
    public async Task HalfClose_TheClientsEndOfStreamReachesTheDestination_AndTheAnswerStillComesBack()
    {
        await using var server = LoopbackServer.AnswerAfterEndOfStream();
        await using ConnectProxy proxy = Start(Allow($"127.0.0.1:{server.Port}"));

        (ProxyClient client, ProxyAnswer answer) = await ProxyClient.ConnectToAsync(proxy.Port, $"127.0.0.1:{server.Port}");
        using (client)
        {
            answer.Status.ShouldBe(200);
            await client.SendAsync(new byte[100_000]);
            client.Socket.Shutdown(SocketShutdown.Send);
            Encoding.ASCII.GetString(await client.ReadToEndAsync()).ShouldBe("received 100000 bytes");
        }
        EgressLogEntry entry = await log.WaitForAsync(e => e.Decision == EgressOutcome.Allowed);
        entry.BytesUp.ShouldBe(100_000);
        entry.Reason.ShouldBeNull();
    }

    [Fact]
    public async Task BytesSentRightBehindTheRequest_ReachTheDestination()
    {
        await using var echo = LoopbackServer.Echo();
        await using ConnectProxy proxy = Start(Allow($"127.0.0.1:{echo.Port}"));

        using ProxyClient client = await ProxyClient.ConnectAsync(proxy.Port);
        await client.SendAsync($"CONNECT 127.0.0.1:{echo.Port} HTTP/1.1\r\n\r\nearly bytes");
        (await client.ReadAnswerAsync()).Status.ShouldBe(200);
        byte[] back = new byte[11];
        await client.ReadExactlyAsync(back, CancellationToken.None);
        Encoding.ASCII.GetString(back).ShouldBe("early bytes");
    }

    [Fact]
    public async Task ADeniedHost_Gets403_IsLoggedByName_AndIsNeitherResolvedNorConnected()
    {
        await using var echo = LoopbackServer.Echo();
        resolver.Map("evil.test", IPAddress.Loopback);
        await using ConnectProxy proxy = Start(Allow($"good.test:{echo.Port}"), guard: false);

        (ProxyClient client, ProxyAnswer answer) = await ProxyClient.ConnectToAsync(proxy.Port, $"evil.test:{echo.Port}");
        using (client)
        {
            answer.Status.ShouldBe(403);
            answer.Body.ShouldContain($"evil.test:{echo.Port} is not in the egress allowlist");
            answer.Headers["Connection"].ShouldBe("close");
            (await client.ReadToEndAsync()).ShouldBeEmpty();
        }

        EgressLogEntry entry = log.Entries.ShouldHaveSingleItem();
        entry.Decision.ShouldBe(EgressOutcome.Denied);
        entry.Host.ShouldBe("evil.test");
        entry.Port.ShouldBe(echo.Port);
        entry.Status.ShouldBe(403);
        entry.ToString().ShouldContain($"egress denied evil.test:{echo.Port}");
        resolver.Queries.ShouldBeEmpty();
        echo.Accepted.ShouldBe(0);
    }

    [Fact]
    public async Task AnAllowedName_DoesNotAllowItsAddressAsALiteral()
    {
        await using var echo = LoopbackServer.Echo();
        resolver.Map("localhost", IPAddress.Loopback);
        await using ConnectProxy proxy = Start(Allow($"localhost:{echo.Port}"), guard: false);

        (ProxyClient client, ProxyAnswer answer) = await ProxyClient.ConnectToAsync(proxy.Port, $"127.0.0.1:{echo.Port}");
        client.Dispose();
        answer.Status.ShouldBe(403);
        answer.Body.ShouldContain("only when listed literally");
        echo.Accepted.ShouldBe(0);
    }

    [Fact]
    public async Task AnAllowedHost_OnAnotherPort_IsDenied()
    {
        await using var echo = LoopbackServer.Echo();
        await using ConnectProxy proxy = Start(Allow($"127.0.0.1:{echo.Port + 1}"));

        (ProxyClient client, ProxyAnswer answer) = await ProxyClient.ConnectToAsync(proxy.Port, $"127.0.0.1:{echo.Port}");
        client.Dispose();
        answer.Status.ShouldBe(403);
        echo.Accepted.ShouldBe(0);
    }

    [Theory]
    [InlineData("GET http://user:s3cret@127.0.0.1:9/path?token=t0ken HTTP/1.1\r\nHost: 127.0.0.1:9\r\n\r\n")]
    [InlineData("POST http://127.0.0.1:9/ HTTP/1.1\r\nProxy-Authorization: Basic czNjcmV0\r\nContent-Length: 0\r\n\r\n")]
    [InlineData("OPTIONS * HTTP/1.1\r\n\r\n")]
    public async Task PlainHttpProxying_IsNotSupported_405WithAllowConnect_AndNothingSecretIsLogged(string request)
    {
        await using ConnectProxy proxy = Start(Allow("127.0.0.1:9"));
        using ProxyClient client = await ProxyClient.ConnectAsync(proxy.Port);
        await client.SendAsync(request);
        ProxyAnswer answer = await client.ReadAnswerAsync();

        answer.Status.ShouldBe(405);
        answer.Headers["Allow"].ShouldBe("CONNECT");
        EgressLogEntry entry = log.Entries.ShouldHaveSingleItem();
        entry.Decision.ShouldBe(EgressOutcome.Rejected);
        entry.Host.ShouldBeNull();
        foreach (string secret in new[] { "s3cret", "t0ken", "czNjcmV0", "/path" })
        {
            entry.ToString().ShouldNotContain(secret);
            answer.Body.ShouldNotContain(secret);
        }
    }

    [Theory]
    [InlineData("CONNECT 127.0.0.1:9 HTTP/1.0\r\n\r\n", 505)]
    [InlineData("CONNECT 127.0.0.1 HTTP/1.1\r\n\r\n", 400)]
    [InlineData("CONNECT 127.0.0.1:9 HTTP/1.1\r\nX: a\r\n folded: b\r\n\r\n", 400)]
    public async Task MalformedConnects_AreRefused(string request, int status)
    {
        await using ConnectProxy proxy = Start(Allow("127.0.0.1:9"));
        using ProxyClient client = await ProxyClient.ConnectAsync(proxy.Port);
        await client.SendAsync(request);
        (await client.ReadAnswerAsync()).Status.ShouldBe(status);
    }

    [Fact]
    public async Task AnOversizedRequestHead_IsCutOffAt16KiB_With431()
    {
        await using ConnectProxy proxy = Start(Allow("big.test"));
        using ProxyClient client = await ProxyClient.ConnectAsync(proxy.Port);
        // A megabyte of header with no end: the proxy must answer after 16 KiB instead of buffering it all.
        Task flood = Task.Run(async () =>
        {
            try
            {
                await client.SendAsync("CONNECT big.test:443 HTTP/1.1\r\nX-Pad: ");
                await client.SendAsync(Encoding.ASCII.GetBytes(new string('a', 1024 * 1024)));
            }
            catch (SocketException)
            {
                // the proxy closed on us, as it should
            }
            catch (TimeoutException)
            {
                // the proxy stopped reading, as it should
            }
        });

        ProxyAnswer answer = await client.ReadAnswerAsync();
        answer.Status.ShouldBe(431);
        answer.Body.ShouldContain("16384 bytes");
        await client.ReadToEndAsync();
        await flood;
        resolver.Queries.ShouldBeEmpty();
        (await log.WaitForAsync(e => e.Status == 431)).Decision.ShouldBe(EgressOutcome.Rejected);
    }

    [Fact]
    public async Task ASlowRequestHead_IsCutOffByTheHeadTimeout_EvenWhileBytesTrickleIn()
    {
        await using ConnectProxy proxy = Start(Allow("slow.test"), headTimeout: TimeSpan.FromMilliseconds(500));
        using ProxyClient client = await ProxyClient.ConnectAsync(proxy.Port);
        using var stopTrickle = new CancellationTokenSource();
        Task trickle = Task.Run(async () =>
        {
            try
            {
                foreach (char c in "CONNECT slow.test:443 HTTP/1.1\r\nX-Slow: " + new string('z', 200))
                {
                    await client.SendAsync(c.ToString());
                    await Task.Delay(50, stopTrickle.Token);
                }
            }
            catch (Exception e) when (e is SocketException or OperationCanceledException)
            {
            }
        });

        var clock = Stopwatch.StartNew();
        ProxyAnswer answer = await client.ReadAnswerAsync(TimeSpan.FromSeconds(5));
        clock.Elapsed.ShouldBeLessThan(TimeSpan.FromSeconds(3));
        answer.Status.ShouldBe(408);
        await stopTrickle.CancelAsync();
        await trickle;
    }

    [Fact]
    public async Task DnsRebinding_ANameThatResolvesToLoopback_IsRefused()
    {
        await using var echo = LoopbackServer.Echo();
        resolver.Map("forge.test", IPAddress.Loopback);
        await using ConnectProxy proxy = Start(Allow($"forge.test:{echo.Port}"), guard: true);

        (ProxyClient client, ProxyAnswer answer) = await ProxyClient.ConnectToAsync(proxy.Port, $"forge.test:{echo.Port}");
        client.Dispose();

        answer.Status.ShouldBe(403);
        answer.Body.ShouldContain($"forge.test:{echo.Port} resolves to 127.0.0.1, a loopback address");
        (await log.WaitForAsync(e => e.Decision == EgressOutcome.Denied)).Host.ShouldBe("forge.test");
        resolver.Queries.ShouldBe(["forge.test"]);
        echo.Accepted.ShouldBe(0);
    }

    [Fact]
    public async Task DnsRebinding_AnIPv4MappedLoopbackAnswer_IsRefusedToo()
    {
        await using var echo = LoopbackServer.Echo();
        resolver.Map("forge.test", IPAddress.Parse("::ffff:127.0.0.1"));
        await using ConnectProxy proxy = Start(Allow($"forge.test:{echo.Port}"), guard: true);

        (ProxyClient client, ProxyAnswer answer) = await ProxyClient.ConnectToAsync(proxy.Port, $"forge.test:{echo.Port}");
        client.Dispose();
        answer.Status.ShouldBe(403);
        echo.Accepted.ShouldBe(0);
    }

    [Theory]
    [InlineData(true, true)]   // guard on, 127.0.0.1 also listed literally
    [InlineData(false, false)] // guard off
    public async Task DnsRebinding_TheGuardLetsLoopbackThrough_OnlyWhenListedLiterallyOrTurnedOff(bool guard, bool listLiteral)
    {
        await using var echo = LoopbackServer.Echo();
        resolver.Map("forge.test", IPAddress.Loopback);
        EgressPolicy policy = listLiteral ? Allow($"forge.test:{echo.Port}", $"127.0.0.1:{echo.Port}") : Allow($"forge.test:{echo.Port}");
        await using ConnectProxy proxy = Start(policy, guard);

        (ProxyClient client, ProxyAnswer answer) = await ProxyClient.ConnectToAsync(proxy.Port, $"forge.test:{echo.Port}");
        using (client)
        {
            answer.Status.ShouldBe(200);
            await client.SendAsync("ping");
            byte[] back = new byte[4];
            await client.ReadExactlyAsync(back, CancellationToken.None);
            Encoding.ASCII.GetString(back).ShouldBe("ping");
        }
        echo.Accepted.ShouldBe(1);
    }

    [Fact]
    public async Task AnIdnName_IsNormalisedBeforeThePolicyAndTheResolverSeeIt()
    {
        await using var echo = LoopbackServer.Echo();
        resolver.Map("xn--bcher-kva.test", IPAddress.Loopback);
        await using ConnectProxy proxy = Start(Allow($"BÜCHER.test.:{echo.Port}"), guard: false);

        foreach (string target in new[] { $"xn--bcher-kva.test:{echo.Port}", $"XN--BCHER-KVA.TEST.:{echo.Port}" })
        {
            (ProxyClient client, ProxyAnswer answer) = await ProxyClient.ConnectToAsync(proxy.Port, target);
            client.Dispose();
            answer.Status.ShouldBe(200, target);
        }
        resolver.Queries.ShouldBe(["xn--bcher-kva.test", "xn--bcher-kva.test"]);
        (await log.WaitForAsync(e => e.Decision == EgressOutcome.Allowed)).Host.ShouldBe("xn--bcher-kva.test");
    }

    [Fact]
    public async Task TheConnectionCap_Answers503BeyondIt_AndFreesASlotWhenATunnelCloses()
    {
        await using var echo = LoopbackServer.Echo();
        await using ConnectProxy proxy = Start(Allow($"127.0.0.1:{echo.Port}"), maxConnections: 2);
        string target = $"127.0.0.1:{echo.Port}";

        (ProxyClient first, ProxyAnswer a1) = await ProxyClient.ConnectToAsync(proxy.Port, target);
        (ProxyClient second, ProxyAnswer a2) = await ProxyClient.ConnectToAsync(proxy.Port, target);
        using (second)
        {
            a1.Status.ShouldBe(200);
            a2.Status.ShouldBe(200);

            (ProxyClient third, ProxyAnswer a3) = await ProxyClient.ConnectToAsync(proxy.Port, target);
            third.Dispose();
            a3.Status.ShouldBe(503);
            a3.Body.ShouldContain("maximum of 2 connections");
            (await log.WaitForAsync(e => e.Status == 503)).Decision.ShouldBe(EgressOutcome.Rejected);

            first.Socket.Shutdown(SocketShutdown.Send);
            await first.ReadToEndAsync();
            first.Dispose();
            await WaitUntil(() => proxy.ActiveConnections == 1);

            (ProxyClient fourth, ProxyAnswer a4) = await ProxyClient.ConnectToAsync(proxy.Port, target);
            fourth.Dispose();
            a4.Status.ShouldBe(200);
        }
    }

    [Fact]
    public async Task AnIdleTunnel_IsClosed()
    {
        await using var echo = LoopbackServer.Echo();
        await using ConnectProxy proxy = Start(Allow($"127.0.0.1:{echo.Port}"), idle: TimeSpan.FromMilliseconds(300));

        (ProxyClient client, ProxyAnswer answer) = await ProxyClient.ConnectToAsync(proxy.Port, $"127.0.0.1:{echo.Port}");
        using (client)
        {
            answer.Status.ShouldBe(200);
            var clock = Stopwatch.StartNew();
            await client.ReadToEndAsync(TimeSpan.FromSeconds(5));
            clock.Elapsed.ShouldBeLessThan(TimeSpan.FromSeconds(3));
        }
        (await log.WaitForAsync(e => e.Decision == EgressOutcome.Allowed)).Reason.ShouldBe("closed after 0.3 s without traffic");
    }

    [Fact]
    public async Task AnUnreachableDestination_Gets502()
    {
        int closedPort;
        using (var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            closedPort = ((IPEndPoint)probe.LocalEndPoint!).Port;
        }
        await using ConnectProxy proxy = Start(Allow($"127.0.0.1:{closedPort}"));

        (ProxyClient client, ProxyAnswer answer) = await ProxyClient.ConnectToAsync(proxy.Port, $"127.0.0.1:{closedPort}");
        client.Dispose();
        answer.Status.ShouldBe(502);
        answer.Body.ShouldContain("ConnectionRefused");
        (await log.WaitForAsync(e => e.Status == 502)).Decision.ShouldBe(EgressOutcome.Failed);
    }

    [Fact]
    public async Task AnUnresolvableName_Gets502_AndASlowResolver_Gets504()
    {
        var hang = new TaskCompletionSource<IPAddress[]>();
        await using ConnectProxy proxy = ConnectProxy.StartLoopback(Allow("missing.test", "hang.test"), new ConnectProxyOptions
        {
            Resolver = (host, ct) => host == "hang.test" ? hang.Task : resolver.ResolveAsync(host, ct),
            Log = log.Add,
            ResolveTimeout = TimeSpan.FromMilliseconds(300),
        });

        (ProxyClient c1, ProxyAnswer missing) = await ProxyClient.ConnectToAsync(proxy.Port, "missing.test:443");
        c1.Dispose();
        missing.Status.ShouldBe(502);
        missing.Body.ShouldContain("cannot resolve missing.test: HostNotFound");

        (ProxyClient c2, ProxyAnswer slow) = await ProxyClient.ConnectToAsync(proxy.Port, "hang.test:443");
        c2.Dispose();
        slow.Status.ShouldBe(504);
    }

    [Fact]
    public async Task ProxyServesAListeningSocketHandedToIt()
    {
        await using var echo = LoopbackServer.Echo();
        // As the launcher will: a listener made elsewhere (in the sandbox's namespace), bound and listening, handed over.
        var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(16);
        await using ConnectProxy proxy = ConnectProxy.Serve(listener, Allow($"127.0.0.1:{echo.Port}"), new ConnectProxyOptions { Resolver = resolver.ResolveAsync, Log = log.Add });

        proxy.Port.ShouldBe(((IPEndPoint)listener.LocalEndPoint!).Port);
        (ProxyClient client, ProxyAnswer answer) = await ProxyClient.ConnectToAsync(proxy.Port, $"127.0.0.1:{echo.Port}");
        client.Dispose();
        answer.Status.ShouldBe(200);
    }

    [Fact]
    public void ASocketThatIsNotListening_IsRefused()
    {
        using var bound = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        bound.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        Should.Throw<ArgumentException>(() => ConnectProxy.Serve(bound, EgressPolicy.DenyAll)).Message.ShouldContain("not listening");
    }

    [Fact]
    public async Task Disposing_EndsOpenTunnels_AndLogsThem()
    {
        await using var echo = LoopbackServer.Echo();
        ConnectProxy proxy = Start(Allow($"127.0.0.1:{echo.Port}"));
        (ProxyClient client, ProxyAnswer answer) = await ProxyClient.ConnectToAsync(proxy.Port, $"127.0.0.1:{echo.Port}");
        using (client)
        {
            answer.Status.ShouldBe(200);
            var clock = Stopwatch.StartNew();
            await proxy.DisposeAsync();
            await client.ReadToEndAsync(TimeSpan.FromSeconds(5));
            clock.Elapsed.ShouldBeLessThan(TimeSpan.FromSeconds(3));
        }
        (await log.WaitForAsync(e => e.Decision == EgressOutcome.Allowed)).Reason.ShouldBe("the proxy stopped");
        await proxy.Completion;
        Should.Throw<SocketException>(() =>
        {
            using var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            s.Connect(new IPEndPoint(IPAddress.Loopback, proxy.Port));
        });
    }

    [Fact]
    public async Task AThrowingLogSink_DoesNotBreakTheProxy()
    {
        await using var echo = LoopbackServer.Echo();
        await using ConnectProxy proxy = Start(Allow($"127.0.0.1:{echo.Port}"), logSink: _ => throw new InvalidOperationException("sink broke"));
        for (int i = 0; i < 2; i++)
        {
            (ProxyClient client, ProxyAnswer answer) = await ProxyClient.ConnectToAsync(proxy.Port, $"127.0.0.1:{echo.Port}");
            client.Dispose();
            answer.Status.ShouldBe(200);
            (ProxyClient denied, ProxyAnswer refused) = await ProxyClient.ConnectToAsync(proxy.Port, "other.test:443");
            denied.Dispose();
            refused.Status.ShouldBe(403);
        }
    }

    private static async Task WaitUntil(Func<bool> condition)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            if (clock.Elapsed > TimeSpan.FromSeconds(10))
                throw new TimeoutException("condition not met in 10 s");
            await Task.Delay(20);
        }
    }
}
