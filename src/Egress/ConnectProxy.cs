using System.Buffers;
using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace AutoReview.Egress;

/// <summary>
/// The host-side HTTP/1.1 CONNECT proxy through which the sandbox reaches the network. For each client it reads
/// a bounded request head, accepts only <c>CONNECT host:port HTTP/1.1</c>, checks the <see cref="EgressPolicy"/>,
/// resolves the name here (the sandbox has no DNS), refuses names that lead to non-public addresses, connects,
/// answers 200 and relays bytes both ways until both sides have closed.
/// </summary>
/// <remarks>
/// <para>The proxy serves any listening stream socket (<see cref="Serve"/>): the launcher creates the listener on
/// 127.0.0.1 inside the sandbox's network namespace and hands it out, so the sandbox reaches the proxy on its own
/// loopback while the proxy's outgoing connections leave from the host's namespace.</para>
/// <para>Plain-HTTP forwarding (<c>GET http://…</c>) is not supported and answered 405: git and .NET's HttpClient
/// use CONNECT for https, which is all the sandbox needs.</para>
/// <para>Responses: 400 malformed, 403 denied by policy or the DNS-rebinding guard, 405 not CONNECT, 408 head too
/// slow, 431 head too large, 502 resolve/connect failure, 503 too many connections, 504 resolve/connect timeout,
/// 505 not HTTP/1.1.</para>
/// </remarks>
public sealed class ConnectProxy : IAsyncDisposable
{
    // After a refusal, the client may still be sending (a large head, early tunnel data). Closing a socket with
    // unread input makes the kernel send RST, which can destroy the answer before the client reads it; so read and
    // discard a bounded amount first.
    private static readonly TimeSpan DrainTime = TimeSpan.FromSeconds(1);
    private const int DrainBytes = 64 * 1024;
    private static readonly TimeSpan StopGrace = TimeSpan.FromSeconds(5);

    private readonly Socket listener;
    private readonly EgressPolicy policy;
    private readonly ConnectProxyOptions options;
    private readonly CancellationTokenSource stopping = new();
    private readonly ConcurrentDictionary<long, Task> connections = new();
    private readonly Task acceptLoop;
    private long nextConnectionId;
    private int activeConnections;
    private int busyRefusals;
    private int disposed;

    private ConnectProxy(Socket listener, EgressPolicy policy, ConnectProxyOptions options)
    {
        this.listener = listener;
        this.policy = policy;
        this.options = options;
        LocalEndPoint = listener.LocalEndPoint ?? throw new ArgumentException("the listening socket has no local address", nameof(listener));
        acceptLoop = Task.Run(AcceptLoopAsync);
    }

    /// <summary>The address clients connect to (for <see cref="StartLoopback"/>, 127.0.0.1 and the port the kernel chose).</summary>
    public EndPoint LocalEndPoint { get; }

    /// <summary>The port of <see cref="LocalEndPoint"/> when it is an IP endpoint.</summary>
    public int Port => LocalEndPoint is IPEndPoint ip ? ip.Port : throw new InvalidOperationException($"{LocalEndPoint} is not an IP endpoint");

    /// <summary>Connections being served now (request phase or tunnel).</summary>
    public int ActiveConnections => Volatile.Read(ref activeConnections);

    /// <summary>Ends when the proxy stops accepting; faults if the listener failed in a way that is not transient.</summary>
    public Task Completion => acceptLoop;

    /// <summary>
    /// Serves clients of <paramref name="listener"/>, which must be a bound, listening stream socket. The proxy owns it
    /// from now on and closes it on <see cref="DisposeAsync"/>.
    /// </summary>
    public static ConnectProxy Serve(Socket listener, EgressPolicy policy, ConnectProxyOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(listener);
        ArgumentNullException.ThrowIfNull(policy);
        options ??= new ConnectProxyOptions();
        options.Validate();
        if (listener.SocketType != SocketType.Stream)
            throw new ArgumentException($"the proxy needs a stream socket, not {listener.SocketType}", nameof(listener));
        if (!IsListening(listener))
            throw new ArgumentException("the socket is not listening (bind and listen before handing it to the proxy)", nameof(listener));
        return new ConnectProxy(listener, policy, options);
    }

    /// <summary>Listens on <paramref name="address"/> (default 127.0.0.1) on a port the kernel picks, and serves it.</summary>
    public static ConnectProxy StartLoopback(EgressPolicy policy, ConnectProxyOptions? options = null, IPAddress? address = null)
    {
        address ??= IPAddress.Loopback;
        var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            socket.Bind(new IPEndPoint(address, 0));
            socket.Listen(512);
            return Serve(socket, policy, options);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Stops accepting, ends every tunnel, and waits (bounded) for the connections to finish logging.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref disposed, 1) != 0)
            return;
        await stopping.CancelAsync().ConfigureAwait(false);
        listener.Dispose();
        try
        {
            await acceptLoop.ConfigureAwait(false);
        }
        catch (SocketException)
        {
            // The listener's failure was already reported through Completion.
        }
        try
        {
            await Task.WhenAll(connections.Values).WaitAsync(StopGrace).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // Every connection observes the stop token; one that has not ended by now is stuck in a callback we do not own.
        }
        // `stopping` is not disposed: a connection that outlived the grace period may still read its token.
    }

    private static bool IsListening(Socket socket)
    {
        try
        {
            return socket.IsBound && socket.GetSocketOption(SocketOptionLevel.Socket, SocketOptionName.AcceptConnection) is int value && value != 0;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private async Task AcceptLoopAsync()
    {
        CancellationToken stop = stopping.Token;
        while (!stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await listener.AcceptAsync(stop).ConfigureAwait(false);
            }
            catch (Exception e) when (stop.IsCancellationRequested && e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }
            catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionAborted or SocketError.ConnectionReset
                                                or SocketError.TooManyOpenSockets or SocketError.NoBufferSpaceAvailable or SocketError.Interrupted)
            {
                // A client that gave up while queued, or a shortage of descriptors or memory: transient. Pause so that
                // a descriptor shortage does not turn into a busy loop.
                try
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(100), stop).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
                continue;
            }
            Dispatch(client);
        }
    }

    private void Dispatch(Socket client)
    {
        long id = Interlocked.Increment(ref nextConnectionId);
        Task task;
        if (Interlocked.Increment(ref activeConnections) <= options.MaxConnections)
        {
            task = ServeConnectionAsync(client);
        }
        else
        {
            Interlocked.Decrement(ref activeConnections);
            // Refusing costs little but is not free (a drain); beyond as many refusals as connections, just close.
            if (Interlocked.Increment(ref busyRefusals) > options.MaxConnections)
            {
                Interlocked.Decrement(ref busyRefusals);
                client.Dispose();
                return;
            }
            task = RefuseBusyAsync(client);
        }
        connections[id] = task;
        // Registered after the insert, so a task that already finished is still removed.
        _ = task.ContinueWith(_ => connections.TryRemove(id, out Task? _), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    private async Task RefuseBusyAsync(Socket client)
    {
        var connection = new Connection(client);
        try
        {
            using (client)
            {
                await RefuseAsync(connection, EgressOutcome.Rejected, 503,
                    $"the proxy is serving its maximum of {options.MaxConnections.ToString(CultureInfo.InvariantCulture)} connections").ConfigureAwait(false);
            }
        }
        catch (Exception e) when (IsConnectionFailure(e))
        {
            // The client went away; the entry was logged before the answer was sent.
        }
        finally
        {
            Interlocked.Decrement(ref busyRefusals);
        }
    }

    private async Task ServeConnectionAsync(Socket client)
    {
        // Off the accept loop's thread before any work.
        await Task.Yield();
        var connection = new Connection(client);
        try
        {
            using (client)
                await HandleAsync(connection).ConfigureAwait(false);
        }
        catch (Exception e) when (IsConnectionFailure(e))
        {
            connection.Reason ??= stopping.IsCancellationRequested ? "the proxy stopped" : Describe(e);
        }
        finally
        {
            Interlocked.Decrement(ref activeConnections);
            Emit(connection);
        }
    }

    private async Task HandleAsync(Connection connection)
    {
        Socket client = connection.Client;
        client.NoDelay = true;
        CancellationToken stop = stopping.Token;

        byte[] buffer = ArrayPool<byte>.Shared.Rent(options.MaxRequestHeadBytes);
        int length = 0;
        int headEnd = -1;
        try
        {
            using (var headDeadline = CancellationTokenSource.CreateLinkedTokenSource(stop))
            {
                headDeadline.CancelAfter(options.RequestHeadTimeout);
                try
                {
                    while (headEnd < 0)
                    {
                        if (length == options.MaxRequestHeadBytes)
                        {
                            await RefuseAsync(connection, EgressOutcome.Rejected, 431,
                                $"the request head exceeds {options.MaxRequestHeadBytes.ToString(CultureInfo.InvariantCulture)} bytes").ConfigureAwait(false);
                            return;
                        }
                        int read = await client.ReceiveAsync(buffer.AsMemory(length, options.MaxRequestHeadBytes - length), SocketFlags.None, headDeadline.Token).ConfigureAwait(false);
                        if (read == 0)
                        {
                            connection.Reason = "the client closed the connection before sending a complete request";
                            return;
                        }
                        int searchFrom = length - 3;
                        length += read;
                        headEnd = RequestHead.FindEnd(buffer.AsSpan(0, length), searchFrom);
                    }
                }
                catch (OperationCanceledException) when (!stop.IsCancellationRequested)
                {
                    await RefuseAsync(connection, EgressOutcome.Rejected, 408,
                        $"the request head did not arrive within {Seconds(options.RequestHeadTimeout)} s").ConfigureAwait(false);
                    return;
                }
            }

            HeadParse request = RequestHead.Parse(buffer.AsSpan(0, headEnd));
            if (!request.IsConnect)
            {
                await RefuseAsync(connection, EgressOutcome.Rejected, request.RefusalStatus, request.RefusalReason!,
                    request.RefusalStatus == 405 ? "Allow: CONNECT\r\n" : "").ConfigureAwait(false);
                return;
            }
            // Tunnel bytes the client sent right behind its head (e.g. a TLS ClientHello) belong to the destination.
            byte[] early = buffer.AsSpan(headEnd, length - headEnd).ToArray();
            await TunnelAsync(connection, request.Host!, request.Port, early).ConfigureAwait(false);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private async Task TunnelAsync(Connection connection, EgressHost host, int port, byte[] early)
    {
        CancellationToken stop = stopping.Token;
        connection.Host = host;
        connection.Port = port;
        string authority = host.ToAuthority(port);

        // Policy first, before any DNS query: a denied name must not even be looked up (the lookup itself leaks it).
        EgressDecision decision = policy.Decide(host, port);
        if (!decision.IsAllowed)
        {
            await RefuseAsync(connection, EgressOutcome.Denied, 403, decision.Reason!).ConfigureAwait(false);
            return;
        }

        IPAddress[] addresses;
        if (host.Address is { } literal)
        {
            addresses = [literal];
        }
        else
        {
            (addresses, int status, string? failure) = await ResolveAsync(host, stop).ConfigureAwait(false);
            if (failure is not null)
            {
                await RefuseAsync(connection, EgressOutcome.Failed, status, failure).ConfigureAwait(false);
                return;
            }
            // The DNS-rebinding guard: an allowed name must not become a way to the host's own services or its LAN.
            // Any non-public answer refuses the whole name (rather than trying the public ones): a name that mixes
            // them is either misconfigured or hostile, and the log should say so.
            if (options.BlockNonPublicAddresses)
            {
                foreach (IPAddress address in addresses)
                {
                    if (AddressScope.NonPublicKind(address) is { } kind && !policy.AllowsLiteral(address, port))
                    {
                        await RefuseAsync(connection, EgressOutcome.Denied, 403,
                            $"{authority} resolves to {address}, a {kind} address; such addresses are reachable only when listed literally in the egress allowlist").ConfigureAwait(false);
                        return;
                    }
                }
            }
        }

        (Socket? upstream, int connectStatus, string? connectFailure) = await ConnectAsync(addresses, port, authority, stop).ConfigureAwait(false);
        if (upstream is null)
        {
            await RefuseAsync(connection, EgressOutcome.Failed, connectStatus, connectFailure!).ConfigureAwait(false);
            return;
        }
        using (upstream)
        {
            connection.Outcome = EgressOutcome.Allowed;
            connection.Status = 200;
            await SendAsync(connection.Client, "HTTP/1.1 200 Connection established\r\n\r\n"u8.ToArray(), stop).ConfigureAwait(false);
            if (early.Length > 0)
            {
                await SendAsync(upstream, early, stop).ConfigureAwait(false);
                connection.AddUp(early.Length);
            }
            await RelayAsync(connection, upstream, stop).ConfigureAwait(false);
        }
    }

    private async Task<(IPAddress[] Addresses, int Status, string? Failure)> ResolveAsync(EgressHost host, CancellationToken stop)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(stop);
        deadline.CancelAfter(options.ResolveTimeout);
        IPAddress[] found;
        try
        {
            // WaitAsync bounds a resolver that ignores cancellation (getaddrinfo cannot be interrupted).
            found = await options.Resolver(host.Name, deadline.Token).WaitAsync(deadline.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!stop.IsCancellationRequested)
        {
            return ([], 504, $"resolving {host} did not finish within {Seconds(options.ResolveTimeout)} s");
        }
        catch (SocketException e)
        {
            return ([], 502, $"cannot resolve {host}: {e.SocketErrorCode}");
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // An injected resolver may throw anything; its message is ours to trust no more than the name it was given.
            return ([], 502, $"cannot resolve {host}: the resolver failed ({e.GetType().Name})");
        }
        IPAddress[] addresses = (found ?? []).Select(EgressHost.Canonical).Distinct().ToArray();
        return addresses.Length == 0 ? ([], 502, $"{host} has no addresses") : (addresses, 0, null);
    }

    private async Task<(Socket? Socket, int Status, string? Failure)> ConnectAsync(IPAddress[] addresses, int port, string authority, CancellationToken stop)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(stop);
        deadline.CancelAfter(options.ConnectTimeout);
        var failures = new List<string>();
        // In the resolver's order, one at a time: the first address that answers wins, the deadline covers them all.
        foreach (IPAddress address in addresses)
        {
            var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await socket.ConnectAsync(new IPEndPoint(address, port), deadline.Token).ConfigureAwait(false);
                return (socket, 0, null);
            }
            catch (SocketException e)
            {
                socket.Dispose();
                failures.Add($"{address}: {e.SocketErrorCode}");
            }
            catch (OperationCanceledException) when (!stop.IsCancellationRequested)
            {
                socket.Dispose();
                return (null, 504, $"connecting to {authority} did not finish within {Seconds(options.ConnectTimeout)} s");
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }
        return (null, 502, $"cannot connect to {authority} ({string.Join(", ", failures)})");
    }

    /// <summary>
    /// Copies both directions until both have ended. An orderly end (FIN) in one direction is passed on as a
    /// shutdown of sending and the other direction keeps flowing (half-close: git and TLS close_notify rely on it);
    /// an error in either direction, the idle timeout, or the proxy stopping ends both.
    /// </summary>
    private async Task RelayAsync(Connection connection, Socket upstream, CancellationToken stop)
    {
        Socket client = connection.Client;
        using var relay = CancellationTokenSource.CreateLinkedTokenSource(stop);
        var activity = new Activity();
        byte[] upBuffer = ArrayPool<byte>.Shared.Rent(options.RelayBufferBytes);
        byte[] downBuffer = ArrayPool<byte>.Shared.Rent(options.RelayBufferBytes);
        try
        {
            Task<string?> up = PumpAsync(client, upstream, upBuffer.AsMemory(0, options.RelayBufferBytes), connection.AddUp, activity, relay, "client");
            Task<string?> down = PumpAsync(upstream, client, downBuffer.AsMemory(0, options.RelayBufferBytes), connection.AddDown, activity, relay, "destination");
            Task idle = WatchIdleAsync(activity, options.IdleTimeout, relay);
            string?[] ends = await Task.WhenAll(up, down).ConfigureAwait(false);
            await relay.CancelAsync().ConfigureAwait(false);
            await idle.ConfigureAwait(false);
            connection.Reason = activity.IdledOut
                ? $"closed after {Seconds(options.IdleTimeout)} s without traffic"
                : stop.IsCancellationRequested ? "the proxy stopped" : ends.FirstOrDefault(e => e is not null);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(upBuffer);
            ArrayPool<byte>.Shared.Return(downBuffer);
        }
    }

    /// <summary>One direction of a tunnel; returns null on an orderly end, or how it broke (having ended the tunnel).</summary>
    private static async Task<string?> PumpAsync(Socket from, Socket to, Memory<byte> buffer, Action<int> count, Activity activity, CancellationTokenSource relay, string fromName)
    {
        try
        {
            while (true)
            {
                int read = await from.ReceiveAsync(buffer, SocketFlags.None, relay.Token).ConfigureAwait(false);
                if (read == 0)
                    break;
                activity.Touch();
                await to.SendAsync(buffer[..read], SocketFlags.None, relay.Token).ConfigureAwait(false);
                count(read);
                activity.Touch();
            }
            to.Shutdown(SocketShutdown.Send);
            return null;
        }
        catch (Exception e) when (IsConnectionFailure(e))
        {
            // One direction broke: the tunnel is over, so stop the other one instead of leaving it half alive.
            await relay.CancelAsync().ConfigureAwait(false);
            return e is SocketException s ? $"the {fromName} side failed: {s.SocketErrorCode}" : null;
        }
    }

    private static async Task WatchIdleAsync(Activity activity, TimeSpan idleTimeout, CancellationTokenSource relay)
    {
        try
        {
            while (true)
            {
                TimeSpan remaining = idleTimeout - activity.SinceLast;
                if (remaining <= TimeSpan.Zero)
                {
                    activity.IdledOut = true;
                    await relay.CancelAsync().ConfigureAwait(false);
                    return;
                }
                await Task.Delay(remaining, relay.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
            // the tunnel ended first
        }
    }

    /// <summary>Logs the refusal, answers it, and closes gracefully (see <see cref="DrainTime"/>).</summary>
    private async Task RefuseAsync(Connection connection, EgressOutcome outcome, int status, string reason, string extraHeaders = "")
    {
        connection.Outcome = outcome;
        connection.Status = status;
        connection.Reason = reason;
        // Logged before answering, so whoever reads the answer can already find the entry.
        Emit(connection);

        byte[] body = Encoding.UTF8.GetBytes(reason + "\n");
        string head = $"HTTP/1.1 {status.ToString(CultureInfo.InvariantCulture)} {ReasonPhrase(status)}\r\n" +
                      "Content-Type: text/plain; charset=utf-8\r\n" +
                      $"Content-Length: {body.Length.ToString(CultureInfo.InvariantCulture)}\r\n" +
                      extraHeaders +
                      "Connection: close\r\n\r\n";
        Socket client = connection.Client;
        await SendAsync(client, [.. Encoding.ASCII.GetBytes(head), .. body], stopping.Token).ConfigureAwait(false);
        client.Shutdown(SocketShutdown.Send);

        using var drain = CancellationTokenSource.CreateLinkedTokenSource(stopping.Token);
        drain.CancelAfter(DrainTime);
        byte[] sink = ArrayPool<byte>.Shared.Rent(4096);
        try
        {
            for (int drained = 0; drained < DrainBytes;)
            {
                int read = await client.ReceiveAsync(sink, SocketFlags.None, drain.Token).ConfigureAwait(false);
                if (read == 0)
                    break;
                drained += read;
            }
        }
        catch (Exception e) when (IsConnectionFailure(e))
        {
            // Draining is a courtesy; the answer is already sent.
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(sink);
        }
    }

    private async Task SendAsync(Socket socket, byte[] data, CancellationToken stop)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(stop);
        deadline.CancelAfter(options.ResponseTimeout);
        await socket.SendAsync(data, SocketFlags.None, deadline.Token).ConfigureAwait(false);
    }

    private void Emit(Connection connection)
    {
        if (connection.Logged)
            return;
        connection.Logged = true;
        if (options.Log is not { } log)
            return;
        var entry = new EgressLogEntry(
            connection.Started,
            connection.ClientName,
            connection.Host?.Name,
            connection.Port,
            connection.Outcome,
            connection.Status,
            connection.Reason,
            Interlocked.Read(ref connection.BytesUp),
            Interlocked.Read(ref connection.BytesDown),
            connection.Elapsed);
        try
        {
            log(entry);
        }
        catch (Exception)
        {
            // A failing log sink must not take tunnels down with it (documented on ConnectProxyOptions.Log).
        }
    }

    private static bool IsConnectionFailure(Exception e) => e is SocketException or IOException or OperationCanceledException or ObjectDisposedException;

    private static string Describe(Exception e) => e switch
    {
        SocketException s => $"connection error: {s.SocketErrorCode}",
        OperationCanceledException => "timed out sending to the client",
        _ => $"connection error: {e.GetType().Name}",
    };

    private static string Seconds(TimeSpan t) => t.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture);

    private static string ReasonPhrase(int status) => status switch
    {
        400 => "Bad Request",
        403 => "Forbidden",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        431 => "Request Header Fields Too Large",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "Error",
    };

    /// <summary>What one client connection did, for its log entry.</summary>
    private sealed class Connection(Socket client)
    {
        private readonly long startTimestamp = System.Diagnostics.Stopwatch.GetTimestamp();
        public long BytesUp;
        public long BytesDown;

        public Socket Client { get; } = client;
        public DateTimeOffset Started { get; } = DateTimeOffset.UtcNow;
        public string ClientName { get; } = NameOf(client);
        public EgressHost? Host { get; set; }
        public int Port { get; set; }
        public EgressOutcome Outcome { get; set; } = EgressOutcome.Rejected;
        public int Status { get; set; }
        public string? Reason { get; set; }
        public bool Logged { get; set; }
        public TimeSpan Elapsed => System.Diagnostics.Stopwatch.GetElapsedTime(startTimestamp);

        public void AddUp(int n) => Interlocked.Add(ref BytesUp, n);

        public void AddDown(int n) => Interlocked.Add(ref BytesDown, n);

        private static string NameOf(Socket socket)
        {
            try
            {
                return socket.RemoteEndPoint?.ToString() ?? "unknown";
            }
            catch (SocketException)
            {
                return "unknown";
            }
        }
    }

    /// <summary>When bytes last moved in a tunnel, either way.</summary>
    private sealed class Activity
    {
        private long lastTimestamp = System.Diagnostics.Stopwatch.GetTimestamp();

        public bool IdledOut { get; set; }

        public TimeSpan SinceLast => System.Diagnostics.Stopwatch.GetElapsedTime(Volatile.Read(ref lastTimestamp));

        public void Touch() => Volatile.Write(ref lastTimestamp, System.Diagnostics.Stopwatch.GetTimestamp());
    }
}
