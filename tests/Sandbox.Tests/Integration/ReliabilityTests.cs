using System.Diagnostics;
using AutoReview.TestInfrastructure;
using Shouldly;
using Xunit;
using Xunit.Abstractions;

namespace AutoReview.Sandbox.Tests.Integration;

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class SerialCollection
{
    public const string Name = "serial: counts this process's fds and children";
}

/// <summary>
/// The launcher in this (multi-threaded, JIT-compiled) process, while other threads allocate and force
/// GCs: the situation in which managed code in a forked child hangs. The child runs no managed code.
/// </summary>
[Collection(SerialCollection.Name)]
[Trait("Category", "Sandbox")]
public sealed class ReliabilityTests(ITestOutputHelper output) : IDisposable
{
    private readonly TestRootFs _root = new();

    public void Dispose() => _root.Dispose();

    [SkippableFact]
    public void TwoThousandLaunches_UnderGcPressure_NoHangsNoFailures()
    {
        Capability.RequireUserNamespaces();
        const int launches = 2000;
        SandboxSpec spec = _root.Spec("/usr/bin/true");
        using var stop = new CancellationTokenSource();
        long collections = 0;
        var stressors = Enumerable.Range(0, 2).Select(_ => new Thread(() =>
        {
            var keep = new List<byte[]>();
            while (!stop.IsCancellationRequested)
            {
                for (int i = 0; i < 200; i++)
                    keep.Add(new byte[Random.Shared.Next(16, 64 * 1024)]);
                if (keep.Count > 2000) keep.RemoveRange(0, 1000);
                GC.Collect();
                Interlocked.Increment(ref collections);
            }
        }) { IsBackground = true }).ToList();
        stressors.ForEach(t => t.Start());

        int completed = 0;
        var failures = new List<string>();
        var clock = Stopwatch.StartNew();
        var worker = new Thread(() =>
        {
            for (int i = 0; i < launches; i++)
            {
                try
                {
                    SandboxExit exit = Launcher.Run(spec);
                    if (exit.ExitCode != 0) lock (failures) failures.Add($"launch {i}: exit {exit.ExitCode}");
                }
                catch (SandboxException e)
                {
                    lock (failures) failures.Add($"launch {i}: {e.Message}");
                }
                Volatile.Write(ref completed, i + 1);
            }
        }) { IsBackground = true };
        worker.Start();

        // A hang shows as no progress: fail with the launch number instead of blocking the run forever.
        int lastSeen = -1;
        var lastProgress = Stopwatch.StartNew();
        while (!worker.Join(TimeSpan.FromSeconds(1)))
        {
            int now = Volatile.Read(ref completed);
            if (now != lastSeen) (lastSeen, lastProgress) = (now, Stopwatch.StartNew());
            lastProgress.Elapsed.ShouldBeLessThan(TimeSpan.FromSeconds(30), $"launch {now} made no progress for 30 s: a hang");
        }
        stop.Cancel();
        stressors.ForEach(t => t.Join());

        output.WriteLine($"{launches} launches in {clock.Elapsed.TotalSeconds:F1} s ({clock.Elapsed.TotalMilliseconds / launches:F2} ms each) " +
                         $"with {Interlocked.Read(ref collections)} forced GCs on other threads");
        failures.ShouldBeEmpty();
        completed.ShouldBe(launches);
        Interlocked.Read(ref collections).ShouldBeGreaterThan(launches / 10, "the GC stress threads barely ran; the test proved nothing");
    }

    [SkippableFact]
    public void TwoHundredLaunches_LeakNoFdsAndNoZombies()
    {
        Capability.RequireUserNamespaces();
        SandboxSpec spec = _root.Spec("/usr/bin/true");
        // Warm up: the runtime and Shouldly open some fds lazily (signal pipe, DiffEngine.dll).
        for (int i = 0; i < 5; i++) Launcher.Run(spec).ExitCode.ShouldBe(0);
        List<string> before = FdTargets();
        int fdsBefore = before.Count;

        for (int i = 0; i < 200; i++)
            Launcher.Run(spec).ExitCode.ShouldBe(0);

        // Finalizers of other tests' handles may close fds meanwhile, so the count may shrink, never grow;
        // and a launch's own fds (its pidfd, its status pipe) must all be gone.
        List<string> after = FdTargets();
        after.Count.ShouldBeLessThanOrEqualTo(fdsBefore, $"new fds: {string.Join(", ", after.GroupBy(t => t).Select(g => $"{g.Key} x{g.Count() - before.Count(b => b == g.Key)}").Where(s => !s.EndsWith(" x0")))}");
        FdTargets().Where(t => t == "anon_inode:[pidfd]").ShouldBeEmpty();
        ChildrenOfThisProcess().ShouldBeEmpty("every sandbox init must be reaped");
    }

    private static int OpenFds() => FdTargets().Count;

    private static List<string> FdTargets() =>
        Directory.EnumerateFileSystemEntries("/proc/self/fd").Select(fd => new FileInfo(fd).LinkTarget ?? "").ToList();

    private static List<string> ChildrenOfThisProcess()
    {
        string self = Environment.ProcessId.ToString();
        return Directory.EnumerateDirectories("/proc")
            .Where(d => Path.GetFileName(d).All(char.IsAsciiDigit))
            .Select(d =>
            {
                try { return File.ReadAllText(Path.Combine(d, "stat")); }
                catch (IOException) { return ""; }
            })
            .Where(stat => stat.Length > 0 && stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[1] == self)
            .ToList();
    }
}
