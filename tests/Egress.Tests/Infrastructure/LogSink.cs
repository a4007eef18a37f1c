using System.Collections.Concurrent;

namespace AutoReview.Egress.Tests.Infrastructure;

/// <summary>Collects the proxy's log entries; tests wait for the entry they expect (tunnel entries come when the tunnel ends).</summary>
internal sealed class LogSink
{
    private readonly ConcurrentQueue<EgressLogEntry> entries = new();

    public IReadOnlyList<EgressLogEntry> Entries => entries.ToArray();

    public void Add(EgressLogEntry entry) => entries.Enqueue(entry);

    public async Task<EgressLogEntry> WaitForAsync(Func<EgressLogEntry, bool> match, TimeSpan? timeout = null)
    {
        DateTime until = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(10));
        while (DateTime.UtcNow < until)
        {
            EgressLogEntry? found = entries.FirstOrDefault(match);
            if (found is not null)
                return found;
            await Task.Delay(20);
        }
        throw new TimeoutException("no matching egress log entry; have:\n" + string.Join("\n", entries));
    }
}
