using System.Net;
using System.Net.Sockets;
using System.Text;

namespace AutoReview.Egress.Tests.Infrastructure;

/// <summary>A raw client of the proxy: sends a request head and reads the proxy's answer head, byte by byte.</summary>
internal sealed class ProxyClient : IDisposable
{
    private ProxyClient(Socket socket) => Socket = socket;

    public Socket Socket { get; }

    public static async Task<ProxyClient> ConnectAsync(int proxyPort)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, proxyPort)).WaitAsync(TimeSpan.FromSeconds(10));
        return new ProxyClient(socket);
    }

    /// <summary>Connects, sends <c>CONNECT target HTTP/1.1</c> and returns the client with the answer's status line.</summary>
    public static async Task<(ProxyClient Client, ProxyAnswer Answer)> ConnectToAsync(int proxyPort, string target)
    {
        ProxyClient client = await ConnectAsync(proxyPort);
        await client.SendAsync($"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\nUser-Agent: egress-test\r\n\r\n");
        return (client, await client.ReadAnswerAsync());
    }

    public Task SendAsync(string text) => SendAsync(Encoding.ASCII.GetBytes(text));

    public async Task SendAsync(ReadOnlyMemory<byte> data) =>
        await Socket.SendAsync(data, SocketFlags.None).AsTask().WaitAsync(TimeSpan.FromSeconds(10));

    /// <summary>Reads the answer head (up to the blank line) and, when it announces one, its body.</summary>
    public async Task<ProxyAnswer> ReadAnswerAsync(TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(10));
        var head = new List<byte>();
        byte[] one = new byte[1];
        while (!EndsWithBlankLine(head))
        {
            int read = await Socket.ReceiveAsync(one, SocketFlags.None, cts.Token);
            if (read == 0)
                throw new EndOfStreamException($"the proxy closed after {head.Count} bytes of answer: {Encoding.ASCII.GetString(head.ToArray())}");
            head.Add(one[0]);
        }
        string text = Encoding.ASCII.GetString(head.ToArray());
        string[] lines = text.Split("\r\n");
        int status = int.Parse(lines[0].Split(' ')[1]);
        var headers = lines.Skip(1).Where(l => l.Length > 0).Select(l => l.Split(':', 2)).ToDictionary(p => p[0], p => p[1].Trim(), StringComparer.OrdinalIgnoreCase);
        string body = "";
        if (headers.TryGetValue("Content-Length", out string? length))
        {
            byte[] bytes = new byte[int.Parse(length)];
            await ReadExactlyAsync(bytes, cts.Token);
            body = Encoding.UTF8.GetString(bytes);
        }
        return new ProxyAnswer(status, lines[0], headers, body);
    }

    public async Task ReadExactlyAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        int done = 0;
        while (done < buffer.Length)
        {
            int read = await Socket.ReceiveAsync(buffer[done..], SocketFlags.None, cancellationToken);
            if (read == 0)
                throw new EndOfStreamException($"end of stream after {done} of {buffer.Length} bytes");
            done += read;
        }
    }

    /// <summary>Reads until the peer closes (or resets); returns what arrived.</summary>
    public async Task<byte[]> ReadToEndAsync(TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(10));
        var all = new MemoryStream();
        byte[] buffer = new byte[64 * 1024];
        while (true)
        {
            int read;
            try
            {
                read = await Socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token);
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset)
            {
                break;
            }
            if (read == 0)
                break;
            all.Write(buffer, 0, read);
        }
        return all.ToArray();
    }

    public void Dispose() => Socket.Dispose();

    private static bool EndsWithBlankLine(List<byte> head) =>
        head.Count >= 4 && head[^4] == '\r' && head[^3] == '\n' && head[^2] == '\r' && head[^1] == '\n';
}

internal sealed record ProxyAnswer(int Status, string StatusLine, IReadOnlyDictionary<string, string> Headers, string Body);
