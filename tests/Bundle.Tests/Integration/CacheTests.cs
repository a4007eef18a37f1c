using System.Diagnostics;
using AutoReview.TestInfrastructure;
using Shouldly;
using Xunit;

namespace AutoReview.Bundle.Tests.Integration;

/// <summary>The unpack cache under concurrency, crashes, corruption and updates (ADR 0008).</summary>
[Trait("Category", "Bundle")]
public sealed class CacheTests : IDisposable
{
    private readonly IsolatedCache _cache = new();

    public void Dispose() => _cache.Dispose();

    private string BundleDirectory => Path.Combine(_cache.Bundles, EmbeddedInfo.LayerDigest["sha256:".Length..]);

    [SkippableFact]
    public void FiftyConcurrentFirstRuns_AllSucceed_AndLeaveOneBundle()
    {
        Sandboxes.Require();
        // All fifty processes are started before any is waited for, so they really race for the first unpack.
        var processes = Enumerable.Range(0, 50)
            .Select(_ => Commands.Start(AutoReviewBinary.Path, ["sandbox", "run", "--", "/usr/bin/git", "--version"], _cache.Environment))
            .ToList();
        var results = processes.Select(p => (Stdout: p.StandardOutput.ReadToEndAsync(), Stderr: p.StandardError.ReadToEndAsync(), Process: p)).ToList();
        foreach (var (_, _, process) in results)
            process.WaitForExit(120_000).ShouldBeTrue("a first run did not finish");

        results.Where(r => r.Process.ExitCode != 0 || !r.Stdout.Result.StartsWith("git version"))
            .Select(r => $"exit {r.Process.ExitCode}: {r.Stdout.Result} {r.Stderr.Result}").ShouldBeEmpty();
        processes.ForEach(p => p.Dispose());
        Directory.GetDirectories(_cache.Bundles).Select(Path.GetFileName).ShouldBe([Path.GetFileName(BundleDirectory)]);
        _cache.Run("bundle", "verify").ExitCode.ShouldBe(0);
    }

    [Fact]
    public void KilledDuringUnpack_TheNextRunRecovers_AndPruneRemovesTheLeftovers()
    {
        // On a loaded machine an unpack can finish between two polls; then the cache is wiped and the kill tried
        // again, a bounded number of times.
        for (int attempt = 1; !KillDuringUnpack(); attempt++)
        {
            attempt.ShouldBeLessThan(5, "no attempt caught the unpack in progress");
            foreach (string dir in Directory.EnumerateDirectories(_cache.Root, "*", SearchOption.AllDirectories))
                File.SetUnixFileMode(dir, File.GetUnixFileMode(dir) | UnixFileMode.UserWrite);
            Directory.Delete(_cache.Bundles, recursive: true);
        }
        Directory.Exists(BundleDirectory).ShouldBeFalse("a killed unpack must never leave a bundle in place");

        CommandResult path = _cache.Run("bundle", "path");
        path.ExitCode.ShouldBe(0, path.ToString());
        path.Stdout.Trim().ShouldBe(Path.Combine(BundleDirectory, "rootfs"));
        _cache.Run("bundle", "verify").ExitCode.ShouldBe(0);

        _cache.Run("bundle", "prune").ExitCode.ShouldBe(0);
        Directory.EnumerateDirectories(_cache.Bundles, ".unpack-*").ShouldBeEmpty();
        Directory.Exists(BundleDirectory).ShouldBeTrue("prune keeps the current bundle");
    }

    [Fact]
    public void TruncatedFileInTheCache_IsDetectedOnUse_AndRebuilt()
    {
        _cache.Run("bundle", "path").ExitCode.ShouldBe(0);
        string git = Path.Combine(BundleDirectory, "rootfs", "usr", "bin", "git");
        File.SetUnixFileMode(git, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        using (var file = new FileStream(git, FileMode.Open, FileAccess.Write)) file.SetLength(1000);

        _cache.Run("bundle", "path").ExitCode.ShouldBe(0);
        new FileInfo(git).Length.ShouldBeGreaterThan(1000);
        _cache.Run("bundle", "verify").ExitCode.ShouldBe(0);
    }

    [Fact]
    public void SameSizeTampering_IsCaughtByVerify_AndRebuilt()
    {
        _cache.Run("bundle", "path").ExitCode.ShouldBe(0);
        string hosts = Path.Combine(BundleDirectory, "rootfs", "etc", "hosts");
        File.SetUnixFileMode(hosts, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        byte[] bytes = File.ReadAllBytes(hosts);
        bytes[0] ^= 0x20;
        File.WriteAllBytes(hosts, bytes);

        CommandResult verify = _cache.Run("bundle", "verify");
        verify.ExitCode.ShouldBe(1, verify.ToString());
        verify.Stderr.ShouldContain("/etc/hosts");
        verify.Stderr.ShouldContain("rebuilt");
        _cache.Run("bundle", "verify").ExitCode.ShouldBe(0);
        File.ReadAllText(hosts).ShouldStartWith("127.0.0.1");
    }

    [SkippableFact]
    public void Verify_WaitsForASandboxUsingTheBundle_ItNeverRebuildsUnderOne()
    {
        Sandboxes.Require();
        using Process running = Commands.Start(AutoReviewBinary.Path, ["sandbox", "run", "--", "/usr/bin/git", "hash-object", "--stdin"], _cache.Environment);
        var clock = Stopwatch.StartNew();
        while (!_cache.Run("bundle", "list").Stdout.Contains("in use"))
        {
            clock.Elapsed.ShouldBeLessThan(TimeSpan.FromSeconds(30), "the sandbox did not start");
            Thread.Sleep(50);
        }

        using Process verify = Commands.Start(AutoReviewBinary.Path, ["bundle", "verify"], _cache.Environment);
        verify.WaitForExit(1500).ShouldBeFalse("verify must wait for the exclusive lock while a sandbox holds the bundle");
        running.StandardInput.Close();
        running.WaitForExit(30_000).ShouldBeTrue();
        verify.WaitForExit(30_000).ShouldBeTrue("verify did not go on once the sandbox ended");
        verify.ExitCode.ShouldBe(0, verify.StandardError.ReadToEnd());
    }

    [SkippableFact]
    public void Prune_KeepsAnotherVersionWhileASandboxUsesIt_AndRemovesItAfterwards()
    {
        Sandboxes.Require();
        using var work = new TemporaryDirectory("ar-other-version-");
        string other = OtherVersion(work);
        CommandResult otherInfo = Commands.Run(other, ["bundle", "info", "--json"]);
        otherInfo.Stdout.ShouldNotContain(EmbeddedInfo.LayerDigest);

        // `git hash-object --stdin` waits on stdin: the other version's sandbox runs until stdin closes.
        using Process running = Commands.Start(other, ["sandbox", "run", "--", "/usr/bin/git", "hash-object", "--stdin"], _cache.Environment);
        var clock = Stopwatch.StartNew();
        while (!_cache.Run("bundle", "list").Stdout.Contains("in use"))
        {
            clock.Elapsed.ShouldBeLessThan(TimeSpan.FromSeconds(30), "the other version's sandbox did not start");
            Thread.Sleep(50);
        }

        CommandResult pruneWhileUsed = _cache.Run("bundle", "prune");
        pruneWhileUsed.Stdout.ShouldContain("in use by a running sandbox");
        Directory.GetDirectories(_cache.Bundles).Length.ShouldBe(1);

        running.StandardInput.Close();
        running.WaitForExit(30_000).ShouldBeTrue();
        CommandResult pruneAfter = _cache.Run("bundle", "prune");
        pruneAfter.Stdout.ShouldContain("removed");
        Directory.GetDirectories(_cache.Bundles).ShouldBeEmpty("the current version was never unpacked here, and the other one is gone");
    }

    [SkippableFact]
    public void TwoVersionsUsedInTurn_DoNotUnpackEachOtherAway_WhileOlderUnusedOnesArePruned()
    {
        Sandboxes.Require();
        using var work = new TemporaryDirectory("ar-other-version-");
        string other = OtherVersion(work);
        _cache.Run("bundle", "path").ExitCode.ShouldBe(0);
        // Three stale versions, last used one, two and three days ago (their lock files' times), and one more recent.
        string[] stale = new[] { "a1", "a2", "a3" }.Select(n => n.PadRight(64, '0')).ToArray();
        for (int i = 0; i < stale.Length; i++)
        {
            Directory.CreateDirectory(Path.Combine(_cache.Bundles, stale[i]));
            string lockFile = Path.Combine(_cache.Bundles, stale[i] + ".lock");
            File.WriteAllText(lockFile, "");
            File.SetLastWriteTimeUtc(lockFile, DateTime.UtcNow.AddDays(-(i + 1)));
        }
        string current = Path.GetFileName(BundleDirectory);

        CommandResult first = Commands.Run(other, ["bundle", "path"], environment: _cache.Environment);
        first.ExitCode.ShouldBe(0, first.ToString());
        string otherDirectory = Path.GetDirectoryName(first.Stdout.Trim())!;
        long otherInode = Inode(otherDirectory), currentInode = Inode(BundleDirectory);
        // Unpacking the other version pruned the two stale versions least recently used, and kept the current one
        // and the most recent stale one.
        Directory.GetDirectories(_cache.Bundles).Select(Path.GetFileName).ShouldBe(
            [current, Path.GetFileName(otherDirectory), stale[0]], ignoreOrder: true);

        for (int round = 0; round < 3; round++)
        {
            _cache.Run("bundle", "path").ExitCode.ShouldBe(0);
            Commands.Run(other, ["bundle", "path"], environment: _cache.Environment).ExitCode.ShouldBe(0);
        }
        Inode(BundleDirectory).ShouldBe(currentInode, "the current version was unpacked again");
        Inode(otherDirectory).ShouldBe(otherInode, "the other version was unpacked again");
    }

    private static long Inode(string path)
    {
        CommandResult stat = Commands.Run("/usr/bin/stat", ["-c", "%i", path]);
        stat.ExitCode.ShouldBe(0, stat.ToString());
        return long.Parse(stat.Stdout.Trim(), System.Globalization.CultureInfo.InvariantCulture);
    }

    [SkippableFact]
    public void UnwritableCacheDirectory_GivesAClearError_AndWritesNothing()
    {
        Skip.If(Environment.UserName == "root" || Tmds.Linux.LibC.geteuid() == 0, "root ignores directory permissions; CI runs this as an unprivileged user");
        Directory.CreateDirectory(_cache.Bundles);
        File.SetUnixFileMode(_cache.Bundles, UnixFileMode.UserRead | UnixFileMode.UserExecute);

        CommandResult result = _cache.Run("bundle", "path");
        result.ExitCode.ShouldBe(125, result.ToString());
        result.Stderr.ShouldContain(_cache.Bundles);
        result.Stderr.ShouldContain("AUTO_REVIEW_CACHE_DIR");
        result.Stderr.ShouldNotContain("   at ");
        Directory.EnumerateFileSystemEntries(_cache.Bundles).ShouldBeEmpty();
    }

    [SkippableFact]
    public void FullDisk_GivesAClearError_AndLeavesNothingHalfWritten()
    {
        Skip.If(!File.Exists("/usr/bin/unshare"), "/usr/bin/unshare not installed (util-linux)");
        // A 2 MiB tmpfs, mounted in a mount namespace of its own, is the cache: the unpack cannot fit.
        // Only that namespace sees the tmpfs, so the listing of what is left happens inside it too.
        string script = $"mount -t tmpfs -o size=2m none '{_cache.Root}' && \"$0\" bundle path; echo \"exit=$?\"; ls -A '{_cache.Bundles}'";
        CommandResult result = Commands.Run("/usr/bin/unshare", ["--user", "--map-root-user", "--mount", "/bin/sh", "-c", script, AutoReviewBinary.Path],
            environment: _cache.Environment);
        result.Stdout.ShouldContain("exit=125", customMessage: result.ToString());
        result.Stderr.ShouldContain("No space left on device");
        result.Stderr.ShouldContain("AUTO_REVIEW_CACHE_DIR");
        result.Stderr.ShouldNotContain("   at ");
        string[] left = result.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).SkipWhile(l => !l.StartsWith("exit=")).Skip(1).ToArray();
        left.ShouldBe([$"{EmbeddedInfo.LayerDigest["sha256:".Length..]}.lock"], "only the lock file may remain: no bundle, no temporary directory");
    }

    /// <summary>Starts an unpack and SIGKILLs it once its temporary directory exists; false if it finished first.</summary>
    private bool KillDuringUnpack()
    {
        using Process unpacker = Commands.Start(AutoReviewBinary.Path, ["bundle", "path"], _cache.Environment);
        var clock = Stopwatch.StartNew();
        while (!Directory.Exists(_cache.Bundles) || !Directory.EnumerateDirectories(_cache.Bundles, ".unpack-*").Any())
        {
            if (unpacker.HasExited) return false;
            clock.Elapsed.ShouldBeLessThan(TimeSpan.FromSeconds(30));
            Thread.Sleep(1);
        }
        unpacker.Kill();
        unpacker.WaitForExit();
        return true;
    }

    /// <summary>A copy of auto-review whose payload was rebuilt with another timestamp: another layer digest.</summary>
    private static string OtherVersion(TemporaryDirectory work)
    {
        string copy = work.Combine("auto-review");
        File.Copy(AutoReviewBinary.Path, copy);
        CommandResult build = Commands.Run(copy, ["bundle", "build", "--spec", Path.Combine(Tools.RepositoryRoot, "src", "Bundle", "rootfs-spec.json"),
            "--source-date-epoch", "1000000000", "--layer-out", work.Combine("layer.tar.gz"), "--embed-into", copy]);
        build.ExitCode.ShouldBe(0, build.ToString());
        return copy;
    }
}
