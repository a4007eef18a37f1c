using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace AutoReview.Egress.Tests.Infrastructure;

/// <summary>
/// The only resolver the tests use: names map to the addresses a test gives them, and any other name fails as
/// "host not found" without touching real DNS (the tests never resolve or reach anything but loopback).
/// </summary>
internal sealed class TestResolver
{
    private readonly Dictionary<string, IPAddress[]> names = new(StringComparer.Ordinal);

    public ConcurrentQueue<string> Queries { get; } = new();

    public TestResolver Map(string name, params IPAddress[] addresses)
    {
        names[name] = addresses;
        return this;
    }

    public Task<IPAddress[]> ResolveAsync(string host, CancellationToken cancellationToken)
    {
        Queries.Enqueue(host);
        return names.TryGetValue(host, out IPAddress[]? addresses)
            ? Task.FromResult(addresses)
            : Task.FromException<IPAddress[]>(new SocketException((int)SocketError.HostNotFound));
    }
}
