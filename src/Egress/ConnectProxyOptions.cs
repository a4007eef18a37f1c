using System.Net;

namespace AutoReview.Egress;

/// <summary>Resolves a canonical DNS name to addresses on the host side of the sandbox.</summary>
public delegate Task<IPAddress[]> HostResolver(string host, CancellationToken cancellationToken);

/// <summary>Limits and hooks of a <see cref="ConnectProxy"/>. The defaults suit git and an LLM API over HTTPS.</summary>
public sealed class ConnectProxyOptions
{
    /// <summary>
    /// Resolves names. The default is the host's resolver (<see cref="Dns.GetHostAddressesAsync(string, CancellationToken)"/>):
    /// DNS happens in the proxy, outside the sandbox, which has no resolver of its own. Tests inject their own.
    /// </summary>
    public HostResolver Resolver { get; init; } = static (host, ct) => Dns.GetHostAddressesAsync(host, ct);

    /// <summary>
    /// Receives one entry per client connection when it ends. Called concurrently from many connections; an
    /// exception it throws is dropped, so a broken log sink cannot break the tunnels.
    /// </summary>
    public Action<EgressLogEntry>? Log { get; init; }

    /// <summary>
    /// The DNS-rebinding guard: refuse a name that resolves to a loopback, private, link-local, multicast or
    /// unspecified address (see <see cref="AddressScope"/>) unless that address is itself listed literally in the
    /// policy. On by default; turning it off is for loopback test servers and private forges reached by name.
    /// </summary>
    public bool BlockNonPublicAddresses { get; init; } = true;

    /// <summary>The largest request head (request line and headers) read before answering 431.</summary>
    public int MaxRequestHeadBytes { get; init; } = 16 * 1024;

    /// <summary>The time a client has to send its whole request head (a slow-loris bound, not per read); then 408.</summary>
    public TimeSpan RequestHeadTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>The time the resolver has for one name; then 504.</summary>
    public TimeSpan ResolveTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>The time to connect to the destination, across all its addresses; then 504.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>The time a proxy answer may take to send (the client may not read it).</summary>
    public TimeSpan ResponseTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>A tunnel in which no byte moved either way for this long is closed.</summary>
    public TimeSpan IdleTimeout { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// The most client connections served at once, counting those still sending their request; more are answered 503.
    /// Each costs two sockets and two relay buffers.
    /// </summary>
    public int MaxConnections { get; init; } = 64;

    /// <summary>The relay buffer per direction.</summary>
    public int RelayBufferBytes { get; init; } = 64 * 1024;

    internal void Validate()
    {
        ArgumentNullException.ThrowIfNull(Resolver);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxRequestHeadBytes, 256);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxConnections, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(RelayBufferBytes, 1024);
        foreach (TimeSpan t in (ReadOnlySpan<TimeSpan>)[RequestHeadTimeout, ResolveTimeout, ConnectTimeout, ResponseTimeout, IdleTimeout])
        {
            if (t <= TimeSpan.Zero || t == Timeout.InfiniteTimeSpan)
                throw new ArgumentOutOfRangeException(nameof(ConnectProxyOptions), t, "every proxy timeout must be positive and finite");
        }
    }
}
