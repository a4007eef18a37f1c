using System.Net;
using System.Net.Sockets;

namespace AutoReview.Bundle.Tests.Infrastructure;

/// <summary>Whether anything still accepts TCP connections on a loopback port (bounded by a timeout).</summary>
internal static class LoopbackProbe
{
    public static async Task<bool> IsAcceptingAsync(Uri uri)
    {
        if (!IPAddress.IsLoopback(IPAddress.Parse(uri.Host)))
            throw new ArgumentException($"{uri} is not a loopback address; the tests probe nothing else", nameof(uri));
        using var client = new TcpClient();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try
        {
            await client.ConnectAsync(IPAddress.Parse(uri.Host), uri.Port, timeout.Token);
            return true;
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionRefused)
        {
            return false;
        }
    }
}
