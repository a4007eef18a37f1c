using System.Security.Cryptography;
using AutoReview.Bundle.Interop;
using AutoReview.Bundle.Layer;
using Microsoft.Win32.SafeHandles;

namespace AutoReview.Bundle;

/// <summary>An unpacked bundle in use: holds a shared lock on it, so `bundle prune` leaves it alone.</summary>
public sealed class BundleLease(string directory, BundleManifest manifest, SafeFileHandle lockHandle) : IDisposable
{
    public string Directory { get; } = directory;
    public string RootFs => Path.Combine(Directory, "rootfs");
    public BundleManifest Manifest { get; } = manifest;

    /// <summary>True when this acquisition unpacked the bundle (a first run, an update or a repair).</summary>
    public bool Unpacked { get; init; }

    public void Dispose() => lockHandle.Dispose();
}

public enum CacheState
{
    Missing,
    /// <summary>Unpacked, marker present, every file the size the manifest says.</summary>
    Ready,
    /// <summary>Present but unusable: half-unpacked, truncated or tampered. It is rebuilt on next use.</summary>
    Broken,
}

public sealed record CachedBundle(string DigestHex, string Directory, CacheState State, long Bytes, bool InUse);

public sealed record VerifyResult(CacheState State, IReadOnlyList<string> Problems);

public sealed record PruneResult(IReadOnlyList<string> Removed, IReadOnlyList<string> KeptInUse);

/// <summary>
/// The per-user cache of unpacked bundles (ADR 0008):
/// <c>ROOT/bundles/&lt;digest&gt;/{rootfs/, manifest.json, complete}</c> and a lock file
/// <c>ROOT/bundles/&lt;digest&gt;.lock</c>. First use unpacks into a temporary directory beside it, verifies,
/// fsyncs and renames it into place under an exclusive lock; every use holds a shared lock.
/// Knows nothing of namespaces: it hands out a directory.
/// </summary>
public sealed class BundleCache(string root)
{
    private const string CompleteMarker = "complete";
    private const string TempPrefix = ".unpack-";

    public string Root { get; } = root;
    public string BundlesDirectory => Path.Combine(Root, "bundles");

    /// <summary>AUTO_REVIEW_CACHE_DIR, else $XDG_CACHE_HOME/auto-review, else ~/.cache/auto-review.</summary>
    public static string DefaultRoot()
    {
        string? explicitRoot = Environment.GetEnvironmentVariable("AUTO_REVIEW_CACHE_DIR");
        if (!string.IsNullOrEmpty(explicitRoot)) return Path.GetFullPath(explicitRoot);
        string? xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
        if (!string.IsNullOrEmpty(xdg) && Path.IsPathFullyQualified(xdg)) return Path.Combine(xdg, "auto-review");
        string? home = Environment.GetEnvironmentVariable("HOME");
        if (string.IsNullOrEmpty(home) || !Path.IsPathFullyQualified(home))
            throw new BundleException("cannot find a cache directory: set AUTO_REVIEW_CACHE_DIR, XDG_CACHE_HOME or HOME");
        return Path.Combine(home, ".cache", "auto-review");
    }

    public string DirectoryFor(string digestHex) => Path.Combine(BundlesDirectory, digestHex);

    /// <summary>
    /// The unpacked bundle, unpacking it first if it is missing or broken. Concurrent first runs serialise on
    /// an exclusive lock: one unpacks, the others wait and then use it.
    /// </summary>
    public BundleLease Acquire(EmbeddedPayload payload, Action<string>? progress = null)
    {
        BundleManifest manifest = payload.Manifest;
        string digest = manifest.DigestHex;
        string directory = DirectoryFor(digest);
        SafeFileHandle lockHandle = OpenLock(digest);
        try
        {
            FileInterop.Lock(lockHandle, exclusive: false, LockPath(digest));
            RecordUse(lockHandle);
            if (QuickCheck(directory, manifest).State == CacheState.Ready)
                return new BundleLease(directory, manifest, lockHandle);

            // flock cannot upgrade atomically: release, take exclusive, and check again (another run may have
            // unpacked it meanwhile).
            FileInterop.Lock(lockHandle, exclusive: true, LockPath(digest));
            bool unpack = QuickCheck(directory, manifest).State != CacheState.Ready;
            if (unpack)
                Unpack(payload, directory, progress);
            FileInterop.Lock(lockHandle, exclusive: false, LockPath(digest));
            return new BundleLease(directory, manifest, lockHandle) { Unpacked = unpack };
        }
        catch
        {
            lockHandle.Dispose();
            throw;
        }
    }

    /// <summary>
    /// `bundle verify`: the full check under the exclusive lock (so it waits for running sandboxes and never
    /// replaces a bundle one of them uses), and a rebuild from the payload if anything differs.
    /// Returns what the check found, and whether the rebuilt bundle then passed the full check.
    /// </summary>
    public (VerifyResult Found, bool Rebuilt) VerifyAndRepair(EmbeddedPayload payload)
    {
        string digest = payload.Manifest.DigestHex;
        string directory = DirectoryFor(digest);
        using SafeFileHandle lockHandle = OpenLock(digest);
        FileInterop.Lock(lockHandle, exclusive: true, LockPath(digest));
        VerifyResult found = FullCheck(directory, payload.Manifest);
        if (found.State == CacheState.Ready)
            return (found, false);
        Unpack(payload, directory, progress: null);
        return (found, FullCheck(directory, payload.Manifest).State == CacheState.Ready);
    }

    private void Unpack(EmbeddedPayload payload, string directory, Action<string>? progress)
    {
        BundleManifest manifest = payload.Manifest;
        if (System.IO.Directory.Exists(directory))
            Delete(directory);
        string temporary = Path.Combine(BundlesDirectory, $"{TempPrefix}{manifest.DigestHex}-{Environment.ProcessId}-{Guid.NewGuid():N}");
        try
        {
            progress?.Invoke($"unpacking the embedded rootfs ({manifest.UncompressedSize / (1 << 20)} MiB, {manifest.Files.Count} entries) into {directory}");
            string rootfs = Path.Combine(temporary, "rootfs");
            System.IO.Directory.CreateDirectory(rootfs);
            using (Stream layer = payload.OpenLayer())
                LayerExtractor.Extract(layer, rootfs, new ExtractOptions { ExpectedDigest = manifest.LayerDigest });
            List<string> problems = Compare(rootfs, manifest, hashes: false);
            if (problems.Count > 0)
                throw new BundleException($"the unpacked bundle does not match its manifest: {string.Join("; ", problems.Take(5))}");
            WriteSynced(Path.Combine(temporary, "manifest.json"), manifest.ToJson());
            WriteSynced(Path.Combine(temporary, CompleteMarker), System.Text.Encoding.ASCII.GetBytes(manifest.LayerDigest + "\n"));
            FileInterop.SyncDirectory(temporary);
            System.IO.Directory.Move(temporary, directory);
            FileInterop.SyncDirectory(BundlesDirectory);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or BundleException)
        {
            DeleteQuietly(temporary);
            throw new BundleException($"cannot unpack the bundle into {BundlesDirectory}: {e.Message} " +
                                      "(if the disk is full or the directory read-only, set AUTO_REVIEW_CACHE_DIR to another place)", e);
        }
    }

    /// <summary>The check made at every launch: the marker, and every entry present with the right kind and size.</summary>
    public VerifyResult QuickCheck(string directory, BundleManifest manifest) => Check(directory, manifest, hashes: false);

    /// <summary>`bundle verify`: also every file's sha256 and mode, and no extra files.</summary>
    public VerifyResult FullCheck(string directory, BundleManifest manifest) => Check(directory, manifest, hashes: true);

    private static VerifyResult Check(string directory, BundleManifest manifest, bool hashes)
    {
        if (!System.IO.Directory.Exists(directory))
            return new VerifyResult(CacheState.Missing, []);
        string marker = Path.Combine(directory, CompleteMarker);
        if (!File.Exists(marker) || File.ReadAllText(marker).Trim() != manifest.LayerDigest)
            return new VerifyResult(CacheState.Broken, ["the completion marker is missing or names another digest (a crashed unpack)"]);
        List<string> problems = Compare(Path.Combine(directory, "rootfs"), manifest, hashes);
        return new VerifyResult(problems.Count == 0 ? CacheState.Ready : CacheState.Broken, problems);
    }

    private static List<string> Compare(string rootfs, BundleManifest manifest, bool hashes)
    {
        var problems = new List<string>();
        foreach (ManifestFile file in manifest.Files)
        {
            string path = Path.Combine(rootfs, file.Path);
            var info = new FileInfo(path);
            bool isDirectory = System.IO.Directory.Exists(path) && info.LinkTarget is null;
            switch (file.Kind)
            {
                case EntryKind.Directory when !isDirectory:
                    problems.Add($"/{file.Path}: expected a directory");
                    break;
                case EntryKind.Symlink when info.LinkTarget != file.LinkTarget:
                    problems.Add($"/{file.Path}: expected a symlink to {file.LinkTarget}");
                    break;
                case EntryKind.File or EntryKind.Hardlink when !info.Exists || info.LinkTarget is not null:
                    problems.Add($"/{file.Path}: missing");
                    break;
                case EntryKind.File or EntryKind.Hardlink when info.Length != file.Size:
                    problems.Add($"/{file.Path}: {info.Length} bytes, expected {file.Size}");
                    break;
                case EntryKind.File or EntryKind.Hardlink when hashes:
                    string sha = Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(path)));
                    if (sha != file.Sha256) problems.Add($"/{file.Path}: content differs from the manifest (sha256 {sha})");
                    if (((int)info.UnixFileMode & 0x1ff) != (file.Mode & 0x16d))
                        problems.Add($"/{file.Path}: mode {Convert.ToString((int)info.UnixFileMode, 8)}, expected {Convert.ToString(file.Mode & 0x16d, 8)}");
                    break;
            }
        }
        if (hashes && System.IO.Directory.Exists(rootfs))
        {
            var expected = manifest.Files.Select(f => f.Path).ToHashSet(StringComparer.Ordinal);
            foreach (string extra in System.IO.Directory.EnumerateFileSystemEntries(rootfs, "*", SearchOption.AllDirectories)
                         .Select(p => Path.GetRelativePath(rootfs, p)).Where(p => !expected.Contains(p)).Order(StringComparer.Ordinal))
                problems.Add($"/{extra}: not in the manifest");
        }
        return problems;
    }

    public IReadOnlyList<CachedBundle> List()
    {
        if (!System.IO.Directory.Exists(BundlesDirectory))
            return [];
        return System.IO.Directory.EnumerateDirectories(BundlesDirectory)
            .Where(d => !Path.GetFileName(d).StartsWith('.'))
            .Order(StringComparer.Ordinal)
            .Select(d =>
            {
                string digest = Path.GetFileName(d);
                string manifestPath = Path.Combine(d, "manifest.json");
                CacheState state = File.Exists(manifestPath)
                    ? QuickCheck(d, BundleManifest.FromJson(File.ReadAllBytes(manifestPath), manifestPath)).State
                    : CacheState.Broken;
                long bytes = System.IO.Directory.EnumerateFiles(d, "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length);
                return new CachedBundle(digest, d, state, bytes, InUse(digest));
            })
            .ToList();
    }

    /// <summary>How many other versions the automatic prune after an unpack keeps, the most recently used first:
    /// two versions used in turn (a CI runner serving two pipelines, a release and a development build) must not
    /// unpack each other away at every launch.</summary>
    public const int RecentVersionsKept = 2;

    /// <summary>
    /// Removes every bundle but <paramref name="keepDigestHex"/> and the <paramref name="keepRecent"/> most recently
    /// used others that no sandbox holds, and temporary directories of crashed unpacks (whose digest's lock nobody
    /// holds). A bundle's last use is its lock file's modification time, which every launch sets.
    /// </summary>
    public PruneResult Prune(string? keepDigestHex, int keepRecent = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(keepRecent);
        var removed = new List<string>();
        var kept = new List<string>();
        if (!System.IO.Directory.Exists(BundlesDirectory))
            return new PruneResult(removed, kept);
        List<string> entries = System.IO.Directory.EnumerateDirectories(BundlesDirectory).Order(StringComparer.Ordinal).ToList();
        var recent = entries
            .Select(Path.GetFileName)
            .Where(name => !name!.StartsWith(TempPrefix, StringComparison.Ordinal) && name != keepDigestHex)
            .OrderByDescending(name => File.GetLastWriteTimeUtc(LockPath(name!)))
            .Take(keepRecent)
            .ToHashSet(StringComparer.Ordinal);
        foreach (string entry in entries)
        {
            string name = Path.GetFileName(entry);
            string digest = name.StartsWith(TempPrefix, StringComparison.Ordinal) ? name[TempPrefix.Length..].Split('-')[0] : name;
            if ((digest == keepDigestHex || recent.Contains(name)) && !name.StartsWith(TempPrefix, StringComparison.Ordinal))
                continue;
            using SafeFileHandle lockHandle = OpenLock(digest);
            if (!FileInterop.TryLockExclusive(lockHandle, LockPath(digest)))
            {
                kept.Add(entry);
                continue;
            }
            Delete(entry);
            if (!name.StartsWith(TempPrefix, StringComparison.Ordinal))
                File.Delete(LockPath(digest));
            removed.Add(entry);
        }
        return new PruneResult(removed, kept);
    }

    /// <summary>Stamps the lock file with the time of this launch, which <see cref="Prune"/> orders versions by. A
    /// read-only cache (another user's, say) is used all the same, just without the stamp.</summary>
    private static void RecordUse(SafeFileHandle lockHandle)
    {
        try
        {
            File.SetLastWriteTimeUtc(lockHandle, DateTime.UtcNow);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }

    private bool InUse(string digest)
    {
        using SafeFileHandle handle = OpenLock(digest);
        return !FileInterop.TryLockExclusive(handle, LockPath(digest));
    }

    private string LockPath(string digest) => Path.Combine(BundlesDirectory, $"{digest}.lock");

    private SafeFileHandle OpenLock(string digest)
    {
        try
        {
            System.IO.Directory.CreateDirectory(BundlesDirectory);
            return FileInterop.OpenLockFile(LockPath(digest));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new BundleException($"cannot use the bundle cache at {BundlesDirectory}: {e.Message} (set AUTO_REVIEW_CACHE_DIR to a writable directory)", e);
        }
    }

    private static void WriteSynced(string path, byte[] bytes)
    {
        using var stream = new FileStream(path, FileMode.CreateNew, FileAccess.Write);
        stream.Write(bytes);
        stream.Flush(flushToDisk: true);
    }

    /// <summary>Cache files are read-only, so directories get u+w back before the tree is deleted.</summary>
    private static void Delete(string directory)
    {
        LayerExtractor.MakeWritable(directory);
        System.IO.Directory.Delete(directory, recursive: true);
    }

    private static void DeleteQuietly(string directory)
    {
        try
        {
            if (System.IO.Directory.Exists(directory)) Delete(directory);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Left for `bundle prune`, which removes stale temporary directories.
        }
    }
}
