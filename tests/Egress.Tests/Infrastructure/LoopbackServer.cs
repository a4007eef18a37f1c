using System.Net;
using System.Net.Sockets;

namespace AutoReview.Egress.Tests.Infrastructure;

/// <summary>A TCP server on 127.0.0.1 that runs <paramref name="handler"/> for every connection (the destination behind the proxy).</summary>
internal sealed class LoopbackServer : IAsyncDisposable
{
    private readonly Socket listener = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
    private readonly CancellationTokenSource stop = new();
    private readonly List<Task> handlers = [];
    private readonly Task acceptLoop;
    private int accepted;

    private LoopbackServer(Func<Socket, CancellationToken, Task> handler)
    {
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(64);
        Port = ((IPEndPoint)listener.LocalEndPoint!).Port;
        acceptLoop = Task.Run(async () =>
        {
            while (true)
            {
                Socket client;
                try
                {
                    client = await listener.AcceptAsync(stop.Token);
                }
                catch (Exception) when (stop.IsCancellationRequested)
                {
                    return;
                }
                Interlocked.Increment(ref accepted);
                lock (handlers)
                {
                    handlers.Add(Task.Run(async () =>
                    {
                        using (client)
                        {
                            try
                            {
                                await handler(client, stop.Token);
                            }
                            catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException)
                            {
                                // the test ended the connection
                            }
                        }
                    }));
                }
            }
        });
    }

    public int Port { get; }

    public int Accepted => Volatile.Read(ref accepted);

    public static LoopbackServer Start(Func<Socket, CancellationToken, Task> handler) => new(handler);

    /// <summary>Echoes everything until the client half-closes, then half-closes too.</summary>
    public static LoopbackServer Echo() => Start(async (socket, ct) =>
    {
        byte[] buffer = new byte[64 * 1024];
        int read;
        while ((read = await socket.ReceiveAsync(buffer, SocketFlags.None, ct)) > 0)
            await socket.SendAsync(buffer.AsMemory(0, read), SocketFlags.None, ct);
        socket.Shutdown(SocketShutdown.Send);
    });

    /// <summary>
    /// Reads until the client half-closes and only then answers "received N bytes" and closes: it works only if
    /// the client's end of stream reaches it while the way back stays open.
    /// </summary>
    public static LoopbackServer AnswerAfterEndOfStream() => Start(async (socket, ct) =>
    {
        byte[] buffer = new byte[64 * 1024];
        long total = 0;
        int read;
        while ((read = await socket.ReceiveAsync(buffer, SocketFlags.None, ct)) > 0)
            total += read;
        await socket.SendAsync(System.Text.Encoding.ASCII.GetBytes($"received {total} bytes"), SocketFlags.None, ct);
        socket.Shutdown(SocketShutdown.Send);
    });

    public async ValueTask DisposeAsync()
    {
        await stop.CancelAsync();
        listener.Dispose();
        await acceptLoop;
        Task[] running;
        lock (handlers)
            running = handlers.ToArray();
        await Task.WhenAll(running).WaitAsync(TimeSpan.FromSeconds(5));
        stop.Dispose();
    }
}
