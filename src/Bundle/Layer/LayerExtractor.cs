using System.Buffers;
using System.Buffers.Binary;
using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;
using AutoReview.Bundle.Interop;

namespace AutoReview.Bundle.Layer;

/// <summary>Options for <see cref="LayerExtractor.Extract"/>.</summary>
public sealed record ExtractOptions
{
    /// <summary>"sha256:" + 64 lowercase hex digits of the compressed layer; checked over the bytes as they are read.</summary>
    public string? ExpectedDigest { get; init; }
}

/// <summary>
/// One extracted entry as it is on disk: <paramref name="Mode"/> is the final permission bits (0777 for a symlink),
/// <paramref name="Size"/> and <paramref name="Sha256"/> (lowercase hex) describe a file's content, also for a
/// hardlink, whose <paramref name="LinkTarget"/> is the rootfs path it shares an inode with.
/// </summary>
public sealed record ExtractedEntry(string Path, EntryKind Kind, int Mode, long Size, string? Sha256, string? LinkTarget);

/// <summary>Every extracted entry in archive order, and the digests of the layer that was read.</summary>
public sealed record ExtractResult(IReadOnlyList<ExtractedEntry> Entries, string LayerDigest, string DiffId);

/// <summary>
/// Unpacks a tar+gzip layer into an existing empty directory, refusing anything that could write outside it or
/// smuggle in something other than directories, regular files, symlinks and hardlinks. It never follows a symlink:
/// each entry's parent is reached by opening one component at a time with O_NOFOLLOW from the target directory,
/// and every parent must be a directory that this same layer created earlier. Nothing is ever replaced
/// (O_EXCL, mkdirat, symlinkat and linkat all fail on an existing name).
/// </summary>
public static class LayerExtractor
{
    private const int ReadOnlyDirectoryMode = 0x16D; // 0555
    private const int DropWriteBits = 0x16D;         // file mode & 0555: keep r and x, drop w
    private const int OwnerAll = 0x1C0;              // 0700

    /// <summary>
    /// Extracts the layer into <paramref name="targetDirectory"/>, which must exist and be empty. Files are written,
    /// fsync'd and made read-only; directories become 0555 once all their children exist, then are fsync'd.
    /// On any <see cref="BundleException"/> the directory may hold part of the layer, and the caller deletes it.
    /// Directories become read-only only in the final pass, after the digest check, so a refused layer leaves a tree
    /// that can be deleted as it is; <see cref="MakeWritable"/> first is harmless and covers a failure in that pass.
    /// The target directory's own mode is left alone: the caller created it and renames it into place.
    /// </summary>
    public static ExtractResult Extract(Stream compressedLayer, string targetDirectory, ExtractOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(compressedLayer);
        ArgumentNullException.ThrowIfNull(targetDirectory);
        string? expectedDigest = options?.ExpectedDigest;
        if (expectedDigest is not null && !IsSha256Digest(expectedDigest))
            throw new BundleException($"expected layer digest '{expectedDigest}' is malformed (expected \"sha256:\" and 64 lowercase hex digits)");

        int rootFd = LayerSyscalls.OpenRoot(targetDirectory);
        try
        {
            if (Directory.EnumerateFileSystemEntries(targetDirectory).Any())
                throw new BundleException($"{targetDirectory}: cannot extract into it: it is not empty (expected an existing empty directory)");

            var extraction = new Extraction(rootFd, targetDirectory);
            using var compressed = new DigestingStream(compressedLayer, writing: false);
            string diffId;
            using (var gzip = new GZipStream(compressed, CompressionMode.Decompress, leaveOpen: true))
            using (var tar = new DigestingStream(gzip, writing: false, computeCrc32: true))
            {
                extraction.ReadArchive(tar);
                CheckEndOfArchive(tar);
                // Read past the gzip member too, so the digest covers every byte of the blob.
                DrainToEnd(compressed);
                CheckGzipTrailer(compressed, tar);
                diffId = tar.Digest;
            }

            string layerDigest = compressed.Digest;
            if (expectedDigest is not null && layerDigest != expectedDigest)
                throw new BundleException($"{targetDirectory}: layer digest is {layerDigest}, expected {expectedDigest} (corrupt or substituted payload)");

            extraction.MakeDirectoriesReadOnlyAndSync();
            return new ExtractResult(extraction.Entries, layerDigest, diffId);
        }
        finally
        {
            LayerSyscalls.Close(rootFd);
        }
    }

    /// <summary>
    /// Adds u+rwx to <paramref name="directory"/> and every directory below it, so the tree can be deleted (unlinking
    /// needs w and x on the parent, listing needs r). Symlinks are neither followed nor changed; files are left as they are.
    /// </summary>
    public static void MakeWritable(string directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        int fd = LayerSyscalls.OpenDirectoryAt(LayerSyscalls.CurrentDirectory, directory, directory);
        try
        {
            MakeWritable(fd, directory);
        }
        finally
        {
            LayerSyscalls.Close(fd);
        }
    }

    private static void MakeWritable(int fd, string path)
    {
        int mode = LayerSyscalls.FstatMode(fd, path);
        LayerSyscalls.Fchmod(fd, (mode & 0xFFF) | OwnerAll, path);
        // Names come from a path-based listing; each is then opened relative to fd with O_NOFOLLOW,
        // so a name that is (or became) a symlink is never followed.
        foreach (string childPath in Directory.EnumerateFileSystemEntries(path))
        {
            string name = Path.GetFileName(childPath);
            if (!LayerSyscalls.IsDirectory(LayerSyscalls.LstatModeAt(fd, name, childPath)))
                continue;
            int child = LayerSyscalls.OpenDirectoryAt(fd, name, childPath);
            try
            {
                MakeWritable(child, childPath);
            }
            finally
            {
                LayerSyscalls.Close(child);
            }
        }
    }

    private static bool IsSha256Digest(string digest) =>
        digest.Length == 71 && digest.StartsWith("sha256:", StringComparison.Ordinal)
        && digest.AsSpan(7).IndexOfAnyExcept("0123456789abcdef") < 0;

    private static void DrainToEnd(Stream stream)
    {
        byte[] buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
        try
        {
            while (stream.Read(buffer) > 0) { }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// .NET's GZipStream reports a clean end of stream when the input stops early, even inside the header, so a
    /// truncated layer would silently extract as a shorter tree. The gzip trailer (CRC-32 and length of the
    /// uncompressed data, RFC 1952) is the check: for a single-member gzip it is the last 8 bytes of the blob.
    /// </summary>
    private static void CheckGzipTrailer(DigestingStream compressed, DigestingStream tar)
    {
        const int MinimumGzipLength = 10 + DigestingStream.GzipTrailerLength; // header + trailer
        ReadOnlySpan<byte> trailer = compressed.Tail;
        uint crc = BinaryPrimitives.ReadUInt32LittleEndian(trailer);
        uint isize = BinaryPrimitives.ReadUInt32LittleEndian(trailer[4..]);
        if (compressed.ByteCount < MinimumGzipLength || crc != tar.Crc32Value || isize != (uint)tar.ByteCount)
            throw new BundleException(
                $"layer payload is truncated or corrupt: {compressed.ByteCount} compressed bytes decode to {tar.ByteCount} bytes with CRC-32 {tar.Crc32Value:x8}, " +
                $"but the gzip trailer says {isize} bytes (mod 2^32) with CRC-32 {crc:x8} (expected one complete gzip member)");
    }

    /// <summary>After the end-of-archive blocks only zero padding may follow; anything else is not part of a valid tar.</summary>
    private static void CheckEndOfArchive(Stream tar)
    {
        byte[] buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
        try
        {
            int n;
            while ((n = tar.Read(buffer)) > 0)
            {
                if (buffer.AsSpan(0, n).IndexOfAnyExcept((byte)0) >= 0)
                    throw new BundleException("layer payload is corrupt: non-zero data after the tar end-of-archive marker");
            }
        }
        catch (Exception e) when (IsPayloadError(e))
        {
            throw new BundleException($"layer payload is truncated or corrupt after the last entry: {e.Message}", e);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    // What GZipStream and TarReader throw on malformed input. Everything else (our own BundleExceptions,
    // I/O errors writing the tree) keeps its own message.
    private static bool IsPayloadError(Exception e) =>
        e is InvalidDataException or EndOfStreamException or FormatException or OverflowException;

    private static BundleException Refused(string entryName, string why) => new($"layer entry '{entryName}': refused: {why}");

    /// <summary>The state of one extraction: what exists so far, so that every check is against this layer's own entries.</summary>
    private sealed class Extraction(int rootFd, string rootPath)
    {
        private readonly Dictionary<string, ExtractedEntry> _byPath = new(StringComparer.Ordinal);
        private readonly List<string> _directories = [];

        public List<ExtractedEntry> Entries { get; } = [];

        public void ReadArchive(Stream tar)
        {
            using var reader = new TarReader(tar, leaveOpen: true);
            string? current = null;
            try
            {
                while (reader.GetNextEntry(copyData: false) is { } entry)
                {
                    current = entry.Name;
                    ExtractEntry(entry);
                }
            }
            catch (Exception e) when (IsPayloadError(e))
            {
                throw new BundleException($"layer payload is truncated or corrupt{(current is null ? "" : $" (at or after entry '{current}')")}: {e.Message}", e);
            }
        }

        private void ExtractEntry(TarEntry entry)
        {
            string name = entry.Name;
            EntryKind kind = entry.EntryType switch
            {
                TarEntryType.Directory => EntryKind.Directory,
                // V7RegularFile is the pre-POSIX type '\0' for a regular file, still written by some tools.
                TarEntryType.RegularFile or TarEntryType.V7RegularFile => EntryKind.File,
                TarEntryType.SymbolicLink => EntryKind.Symlink,
                TarEntryType.HardLink => EntryKind.Hardlink,
                TarEntryType.CharacterDevice => throw Refused(name, "character device (device nodes are not allowed in the rootfs)"),
                TarEntryType.BlockDevice => throw Refused(name, "block device (device nodes are not allowed in the rootfs)"),
                TarEntryType.Fifo => throw Refused(name, "FIFO (only directories, regular files, symlinks and hardlinks are allowed)"),
                _ => throw Refused(name, $"entry type '{(char)entry.EntryType}' ({entry.EntryType}) (only directories, regular files, symlinks and hardlinks are allowed)"),
            };

            // A directory may be written "usr/bin/" (GNU tar, Go, and our writer do); no other entry may end in '/'.
            string path = kind == EntryKind.Directory && name.EndsWith('/') ? name[..^1] : name;
            if (LayerPaths.PathProblem(path) is { } pathProblem)
                throw Refused(name, $"path {pathProblem}");
            int mode = (int)entry.Mode;
            if (LayerPaths.ModeProblem(mode) is { } modeProblem)
                throw Refused(name, $"mode {modeProblem}");
            if (_byPath.ContainsKey(path))
                throw Refused(name, "the path appears twice in the layer (an entry may not replace another)");
            string parent = LayerPaths.Parent(path);
            CheckParentIsExtractedDirectory(name, parent);

            string leaf = path[(path.LastIndexOf('/') + 1)..];
            string diskPath = Path.Join(rootPath, path);
            ExtractedEntry extracted;
            int parentFd = OpenExtractedDirectory(parent);
            try
            {
                extracted = kind switch
                {
                    EntryKind.Directory => CreateDirectory(parentFd, path, leaf, diskPath),
                    EntryKind.File => CreateFile(entry, parentFd, path, leaf, diskPath, mode),
                    EntryKind.Symlink => CreateSymlink(entry, parentFd, path, leaf, diskPath),
                    _ => CreateHardlink(entry, parentFd, path, leaf, diskPath),
                };
            }
            finally
            {
                LayerSyscalls.Close(parentFd);
            }
            _byPath.Add(path, extracted);
            Entries.Add(extracted);
        }

        private void CheckParentIsExtractedDirectory(string name, string parent)
        {
            if (parent.Length == 0) return;
            if (!_byPath.TryGetValue(parent, out ExtractedEntry? parentEntry))
                throw Refused(name, $"parent directory '{parent}' was not extracted earlier in this layer (expected a directory entry before its children)");
            if (parentEntry.Kind == EntryKind.Symlink)
                throw Refused(name, $"its parent path goes through symlink '{parent}' extracted earlier (symlinks are never followed while extracting)");
            if (parentEntry.Kind != EntryKind.Directory)
                throw Refused(name, $"parent '{parent}' is a {parentEntry.Kind.ToString().ToLowerInvariant()} (expected a directory)");
            // Its own parent was checked the same way when it was extracted, so every ancestor is a real directory.
        }

        private ExtractedEntry CreateDirectory(int parentFd, string path, string leaf, string diskPath)
        {
            LayerSyscalls.MakeDirectoryAt(parentFd, leaf, diskPath);
            _directories.Add(path);
            return new ExtractedEntry(path, EntryKind.Directory, ReadOnlyDirectoryMode, 0, null, null);
        }

        private static ExtractedEntry CreateFile(TarEntry entry, int parentFd, string path, string leaf, string diskPath, int mode)
        {
            int finalMode = mode & DropWriteBits;
            int fd = LayerSyscalls.CreateFileAt(parentFd, leaf, diskPath);
            try
            {
                using var sha256 = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
                long written = 0;
                if (entry.DataStream is { } data)
                {
                    byte[] buffer = ArrayPool<byte>.Shared.Rent(128 * 1024);
                    try
                    {
                        int n;
                        while ((n = data.Read(buffer)) > 0)
                        {
                            LayerSyscalls.WriteAll(fd, buffer.AsSpan(0, n), diskPath);
                            sha256.AppendData(buffer, 0, n);
                            written += n;
                        }
                    }
                    finally
                    {
                        ArrayPool<byte>.Shared.Return(buffer);
                    }
                }
                // TarReader's data stream ends quietly at the end of the input; a short file means a cut payload.
                if (written != entry.Length)
                    throw new EndOfStreamException($"'{entry.Name}' holds {written} of its {entry.Length} bytes");
                LayerSyscalls.Fsync(fd, diskPath);
                LayerSyscalls.Fchmod(fd, finalMode, diskPath);
                return new ExtractedEntry(path, EntryKind.File, finalMode, written, Convert.ToHexStringLower(sha256.GetHashAndReset()), null);
            }
            finally
            {
                LayerSyscalls.Close(fd);
            }
        }

        private static ExtractedEntry CreateSymlink(TarEntry entry, int parentFd, string path, string leaf, string diskPath)
        {
            string target = entry.LinkName;
            if (LayerPaths.SymlinkTargetProblem(path, target) is { } problem)
                throw Refused(entry.Name, $"symlink target '{target}' {problem}");
            LayerSyscalls.SymlinkAt(target, parentFd, leaf, diskPath);
            return new ExtractedEntry(path, EntryKind.Symlink, LayerEntry.SymlinkMode, 0, null, target);
        }

        private ExtractedEntry CreateHardlink(TarEntry entry, int parentFd, string path, string leaf, string diskPath)
        {
            string target = entry.LinkName;
            if (LayerPaths.PathProblem(target) is { } problem)
                throw Refused(entry.Name, $"hardlink target '{target}' {problem}");
            if (!_byPath.TryGetValue(target, out ExtractedEntry? file))
                throw Refused(entry.Name, $"hardlink target '{target}' was not extracted earlier in this layer (expected a regular file of this layer)");
            if (file.Kind is not (EntryKind.File or EntryKind.Hardlink))
                throw Refused(entry.Name, $"hardlink target '{target}' is a {file.Kind.ToString().ToLowerInvariant()} (expected a regular file of this layer)");

            int targetParentFd = OpenExtractedDirectory(LayerPaths.Parent(target));
            try
            {
                LayerSyscalls.HardlinkAt(targetParentFd, target[(target.LastIndexOf('/') + 1)..], parentFd, leaf, diskPath);
            }
            finally
            {
                LayerSyscalls.Close(targetParentFd);
            }
            return new ExtractedEntry(path, EntryKind.Hardlink, file.Mode, file.Size, file.Sha256, target);
        }

        /// <summary>
        /// Opens a directory this layer created, one component at a time with O_NOFOLLOW|O_DIRECTORY from the root:
        /// the in-memory checks say no component is a symlink, and the kernel enforces it again here.
        /// </summary>
        private int OpenExtractedDirectory(string path)
        {
            int fd = LayerSyscalls.OpenDirectoryAt(rootFd, ".", rootPath);
            if (path.Length == 0) return fd;
            string walked = rootPath;
            try
            {
                foreach (string part in path.Split('/'))
                {
                    walked = Path.Join(walked, part);
                    int next = LayerSyscalls.OpenDirectoryAt(fd, part, walked);
                    LayerSyscalls.Close(fd);
                    fd = next;
                }
                return fd;
            }
            catch
            {
                LayerSyscalls.Close(fd);
                throw;
            }
        }

        /// <summary>
        /// Deepest directories first (reverse ordinal order puts children before parents): each is made 0555 once
        /// everything inside it exists, then fsync'd so its entries are durable before the caller publishes the tree.
        /// </summary>
        public void MakeDirectoriesReadOnlyAndSync()
        {
            foreach (string path in _directories.OrderByDescending(p => p, StringComparer.Ordinal))
            {
                string diskPath = Path.Join(rootPath, path);
                int fd = OpenExtractedDirectory(path);
                try
                {
                    LayerSyscalls.Fchmod(fd, ReadOnlyDirectoryMode, diskPath);
                    LayerSyscalls.Fsync(fd, diskPath);
                }
                finally
                {
                    LayerSyscalls.Close(fd);
                }
            }
            LayerSyscalls.Fsync(rootFd, rootPath);
        }
    }
}
