using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace AutoReview.Gateway.Net;

/// <summary>
/// HTTP clients whose every connection is an HTTP CONNECT tunnel through the egress proxy, for http:// and
/// https:// targets alike. .NET's own proxy support tunnels only https:// and sends plain http:// requests to the
/// proxy in absolute form, which an allowlisting CONNECT proxy does not serve; a local model endpoint on http://
/// must work the same way as a hosted one. The target's name goes to the proxy unresolved: the sandbox has no DNS.
/// </summary>
public static class ProxyTunnel
{
    /// <summary>The longest proxy answer head read before giving up.</summary>
    public const int MaxResponseHeadBytes = 16 * 1024;

    public static SocketsHttpHandler CreateHandler(Uri proxy)
    {
        ArgumentNullException.ThrowIfNull(proxy);
        if (!proxy.IsAbsoluteUri || proxy.Scheme != Uri.UriSchemeHttp)
            throw new ArgumentException($"the egress proxy must be an http:// URL, not '{Printable.Escape(proxy.OriginalString)}'", nameof(proxy));
        return new SocketsHttpHandler
        {
            UseProxy = false,
            ConnectCallback = (context, cancellationToken) => OpenAsync(proxy, context.DnsEndPoint, cancellationToken),
        };
    }

    /// <summary>Connects to <paramref name="proxy"/> and asks it for a tunnel to <paramref name="target"/>.</summary>
    /// <exception cref="HttpRequestException">The proxy is unreachable or refused; the message quotes its status line.</exception>
    public static async ValueTask<Stream> OpenAsync(Uri proxy, DnsEndPoint target, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(proxy);
        ArgumentNullException.ThrowIfNull(target);
        string authority = target.Host.Contains(':', StringComparison.Ordinal)
            ? $"[{target.Host}]:{target.Port.ToString(CultureInfo.InvariantCulture)}"
            : $"{target.Host}:{target.Port.ToString(CultureInfo.InvariantCulture)}";
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(proxy.Host, proxy.Port, cancellationToken).ConfigureAwait(false);
            var stream = new NetworkStream(socket, ownsSocket: true);
            await stream.WriteAsync(Encoding.ASCII.GetBytes($"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n"), cancellationToken).ConfigureAwait(false);
            string statusLine = await ReadResponseHeadAsync(stream, cancellationToken).ConfigureAwait(false);
            string[] parts = statusLine.Split(' ', 3);
            if (parts.Length < 2 || !parts[0].StartsWith("HTTP/1.", StringComparison.Ordinal) || parts[1] != "200")
                throw new HttpRequestException($"the egress proxy refused a tunnel to {Printable.Escape(authority)}: {Printable.Escape(statusLine)}");
            return stream;
        }
        catch (SocketException e)
        {
            socket.Dispose();
            throw new HttpRequestException($"cannot reach the egress proxy at {proxy.Authority}: {e.Message}", e);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Reads the answer head one byte at a time, so nothing of the tunnelled stream is consumed, and
    /// returns its status line.</summary>
    private static async Task<string> ReadResponseHeadAsync(NetworkStream stream, CancellationToken cancellationToken)
    {
        var head = new List<byte>(256);
        var one = new byte[1];
        while (head.Count < MaxResponseHeadBytes)
        {
            if (await stream.ReadAsync(one, cancellationToken).ConfigureAwait(false) == 0)
                throw new HttpRequestException("the egress proxy closed the connection before answering");
            head.Add(one[0]);
            int n = head.Count;
            if (n >= 4 && head[n - 4] == '\r' && head[n - 3] == '\n' && head[n - 2] == '\r' && head[n - 1] == '\n')
            {
                string text = Encoding.ASCII.GetString(head.ToArray());
                return text[..text.IndexOf('\r', StringComparison.Ordinal)];
            }
        }
        throw new HttpRequestException($"the egress proxy's answer head is over {MaxResponseHeadBytes} bytes");
    }
}
