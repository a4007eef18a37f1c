using System.Formats.Tar;
using System.IO.Compression;
using AutoReview.Bundle.Interop;

namespace AutoReview.Bundle.Layer;

/// <summary>
/// Digests of a written layer, as an OCI image names them: <paramref name="LayerDigest"/> is "sha256:" + hex of the
/// compressed blob (the manifest's layer digest), <paramref name="DiffId"/> of the uncompressed tar (the config's
/// rootfs.diff_ids).
/// </summary>
public sealed record LayerDigests(string LayerDigest, string DiffId, long CompressedSize, long UncompressedSize);

/// <summary>
/// Writes the rootfs as one deterministic OCI layer (application/vnd.oci.image.layer.v1.tar+gzip). The same
/// entries and mtime give the same bytes on every run and every machine that runs the pinned .NET runtime
/// (ADR 0006): entries are sorted ordinally, ownership and times are fixed, nothing is read from the host's
/// metadata, and gzip is written at a fixed level with no timestamp.
/// </summary>
public static class LayerWriter
{
    /// <summary>
    /// zlib level 9, set numerically: CompressionLevel.Optimal/SmallestSize map to levels that the runtime may
    /// change, and a different level is a different blob. ADR 0006 has the measurements behind the choice.
    /// </summary>
    private static readonly ZLibCompressionOptions Compression = new() { CompressionLevel = 9, CompressionStrategy = ZLibCompressionStrategy.Default };

    public static LayerDigests Write(IReadOnlyCollection<LayerEntry> entries, Stream output, DateTimeOffset mtime)
    {
        ArgumentNullException.ThrowIfNull(entries);
        ArgumentNullException.ThrowIfNull(output);
        // Tar headers hold whole seconds since the epoch; anything finer would be silently dropped, earlier is unrepresentable.
        long seconds = mtime.ToUnixTimeSeconds();
        if (seconds < 0)
            throw new BundleException($"layer mtime {mtime:O} is before 1970-01-01 (tar stores seconds since the Unix epoch)");
        DateTimeOffset fixedMtime = DateTimeOffset.FromUnixTimeSeconds(seconds);

        IReadOnlyList<LayerEntry> ordered = Plan(entries);

        using var compressed = new DigestingStream(output, writing: true);
        string diffId;
        long uncompressedSize;
        using (var gzip = new GZipStream(compressed, Compression, leaveOpen: true))
        using (var tar = new DigestingStream(gzip, writing: true))
        {
            // GNU format: long names and long link targets go into ././@LongLink records, so paths and hardlink
            // targets of any length work (Ustar caps link targets at 100 bytes and names at 100+155 split at a '/').
            // PAX would also do, but .NET's PaxTarEntry names its extended headers "PaxHeaders.<pid>": not reproducible.
            using (var writer = new TarWriter(tar, TarEntryFormat.Gnu, leaveOpen: true))
            {
                foreach (LayerEntry entry in ordered)
                    WriteEntry(writer, entry, fixedMtime);
            }
            diffId = tar.Digest;
            uncompressedSize = tar.ByteCount;
        } // disposing the GZipStream writes the last deflate block and the gzip trailer
        return new LayerDigests(compressed.Digest, diffId, compressed.ByteCount, uncompressedSize);
    }

    /// <summary>
    /// Validates the entry set and returns the entries in archive order: sorted ordinally by path, with each group
    /// of hardlinked paths rewritten so that the first path in that order carries the data and the rest link to it
    /// (an extractor can only link to a file it has already written; the content is the same whichever path holds it).
    /// </summary>
    internal static IReadOnlyList<LayerEntry> Plan(IReadOnlyCollection<LayerEntry> entries)
    {
        var byPath = new Dictionary<string, LayerEntry>(entries.Count, StringComparer.Ordinal);
        foreach (LayerEntry entry in entries)
        {
            ArgumentNullException.ThrowIfNull(entry, nameof(entries));
            entry.Validate();
            if (!byPath.TryAdd(entry.Path, entry))
                throw new BundleException($"{entry.Path}: the path appears twice in the layer (as a {KindName(byPath[entry.Path].Kind)} and as a {KindName(entry.Kind)})");
        }

        foreach (LayerEntry entry in byPath.Values)
        {
            string parent = LayerPaths.Parent(entry.Path);
            if (parent.Length == 0) continue;
            if (!byPath.TryGetValue(parent, out LayerEntry? parentEntry))
                throw new BundleException($"{entry.Path}: parent directory '{parent}' has no entry (expected a directory entry for every parent, so its mode is explicit)");
            if (parentEntry.Kind != EntryKind.Directory)
                throw new BundleException($"{entry.Path}: parent '{parent}' is a {KindName(parentEntry.Kind)} (expected a directory)");
        }

        var linksByFile = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        foreach (LayerEntry link in byPath.Values.Where(e => e.Kind == EntryKind.Hardlink))
        {
            string target = link.LinkTarget!;
            if (!byPath.TryGetValue(target, out LayerEntry? file))
                throw new BundleException($"{link.Path}: hardlink target '{target}' has no entry (expected a file entry)");
            if (file.Kind != EntryKind.File)
                throw new BundleException($"{link.Path}: hardlink target '{target}' is a {KindName(file.Kind)} (expected a file entry; link to the file itself, not to another link)");
            if (link.Mode != file.Mode)
                throw new BundleException($"{link.Path}: hardlink mode {LayerPaths.Octal(link.Mode)} differs from its target '{target}' ({LayerPaths.Octal(file.Mode)}); a hardlink shares its target's inode, so the modes must match");
            if (!linksByFile.TryGetValue(target, out List<string>? links))
                linksByFile[target] = links = [];
            links.Add(link.Path);
        }

        var planned = new List<LayerEntry>(byPath.Count);
        foreach (LayerEntry entry in byPath.Values)
        {
            if (entry.Kind == EntryKind.Hardlink) continue; // re-added with its file below
            if (entry.Kind != EntryKind.File || !linksByFile.TryGetValue(entry.Path, out List<string>? links))
            {
                planned.Add(entry);
                continue;
            }
            List<string> group = [.. links.Append(entry.Path).Order(StringComparer.Ordinal)];
            string carrier = group[0];
            planned.Add(entry with { Path = carrier });
            foreach (string path in group.Skip(1))
                planned.Add(new LayerEntry(path, EntryKind.Hardlink, entry.Mode, LinkTarget: carrier));
        }
        planned.Sort((a, b) => string.CompareOrdinal(a.Path, b.Path));
        return planned;
    }

    private static void WriteEntry(TarWriter writer, LayerEntry entry, DateTimeOffset mtime)
    {
        (TarEntryType type, string name) = entry.Kind switch
        {
            // A trailing '/' marks a directory, as GNU tar and Go's archive/tar write it.
            EntryKind.Directory => (TarEntryType.Directory, entry.Path + "/"),
            EntryKind.File => (TarEntryType.RegularFile, entry.Path),
            EntryKind.Symlink => (TarEntryType.SymbolicLink, entry.Path),
            EntryKind.Hardlink => (TarEntryType.HardLink, entry.Path),
            _ => throw new BundleException($"{entry.Path}: unknown entry kind {(int)entry.Kind}"),
        };
        // Set every header field explicitly: the defaults (mtime = now) are host- and time-dependent.
        // atime/ctime stay unset, so GNU headers leave those fields empty.
        var tarEntry = new GnuTarEntry(type, name)
        {
            Mode = (UnixFileMode)entry.Mode,
            Uid = 0,
            Gid = 0,
            UserName = "",
            GroupName = "",
            ModificationTime = mtime,
        };
        if (entry.Kind is EntryKind.Symlink or EntryKind.Hardlink)
            tarEntry.LinkName = entry.LinkTarget!;

        if (entry.Kind != EntryKind.File)
        {
            writer.WriteEntry(tarEntry);
            return;
        }
        using Stream data = entry.Content is { } content ? new MemoryStream(content, writable: false) : OpenSource(entry);
        tarEntry.DataStream = data;
        writer.WriteEntry(tarEntry);
    }

    private static FileStream OpenSource(LayerEntry entry)
    {
        string source = entry.SourcePath!;
        // stat (following a host symlink, whose target is what gets copied) before opening: only a regular file's
        // bytes belong in the layer, and opening a FIFO would block.
        int mode = LayerSyscalls.StatMode(source, $"{entry.Path}: source '{source}'");
        if (!LayerSyscalls.IsRegularFile(mode))
            throw new BundleException($"{entry.Path}: source '{source}' is a {LayerSyscalls.TypeName(mode)} (expected a regular file)");
        try
        {
            return new FileStream(source, FileMode.Open, FileAccess.Read, FileShare.Read);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new BundleException($"{entry.Path}: cannot read source '{source}': {e.Message}", e);
        }
    }

    private static string KindName(EntryKind kind) => kind.ToString().ToLowerInvariant();
}
