using System.Formats.Tar;
using System.Runtime.Versioning;
using System.Security.Cryptography;
using System.Text;
using AutoReview.Bundle.Layer;
using Shouldly;
using Xunit;

namespace AutoReview.Bundle.Tests.Layer;

/// <summary>
/// Round trips, then one test per hostile archive, named after the attack. Each hostile archive is written
/// directly with System.Formats.Tar (our writer refuses to produce them). "Outside" targets live in the test's
/// scratch directory, next to the extraction root, so a broken extractor shows up as a file there, never in /etc.
/// </summary>
[SupportedOSPlatform("linux")] // file modes and inodes are the subject; the layer is for Linux only
public sealed class LayerExtractorTests : IDisposable
{
    private readonly ScratchDirectory _scratch = new();
    private readonly string _root;
    private readonly string _outside;

    public LayerExtractorTests()
    {
        _root = _scratch.NewDirectory("root");
        _outside = _scratch.NewDirectory("outside");
    }

    public void Dispose() => _scratch.Dispose();

    private ExtractResult Extract(byte[] layer, string? expectedDigest = null) =>
        LayerExtractor.Extract(new MemoryStream(layer), _root, new ExtractOptions { ExpectedDigest = expectedDigest });

    private string Refused(byte[] layer) => Should.Throw<BundleException>(() => Extract(layer)).Message;

    private static byte[] WriteLayer(IReadOnlyCollection<LayerEntry> entries, out LayerDigests digests)
    {
        var output = new MemoryStream();
        digests = LayerWriter.Write(entries, output, DateTimeOffset.FromUnixTimeSeconds(1_700_000_000));
        return output.ToArray();
    }

    private static readonly byte[] Binary = RandomNumberGenerator.GetBytes(200_000);

    private static List<LayerEntry> Rootfs() =>
    [
        new("etc", EntryKind.Directory, 0x1ed),
        new("etc/passwd", EntryKind.File, 0x1a4, Content: Encoding.UTF8.GetBytes("root:x:0:0::/:/sbin/nologin\n")),
        new("usr", EntryKind.Directory, 0x1ed),
        new("usr/bin", EntryKind.Directory, 0x1ed),
        new("usr/bin/auto-review", EntryKind.File, 0x1ed, Content: []),
        new("usr/bin/git", EntryKind.File, 0x1ed, Content: Binary),
        new("usr/bin/sh", EntryKind.Symlink, 0x1ff, LinkTarget: "git"),
        new("usr/lib", EntryKind.Directory, 0x1ed),
        new("usr/lib/git-core", EntryKind.Directory, 0x1ed),
        new("usr/lib/git-core/git", EntryKind.Hardlink, 0x1ed, LinkTarget: "usr/bin/git"),
        new("usr/lib/libz.so.1", EntryKind.File, 0x1a4, Content: Encoding.UTF8.GetBytes("not really zlib")),
        new("usr/lib/private", EntryKind.File, 0x180, Content: Encoding.UTF8.GetBytes("0600 on the build host")),
    ];

    [Fact]
    public void RoundTrip_RestoresContentLinksAndReadOnlyModes()
    {
        byte[] layer = WriteLayer(Rootfs(), out LayerDigests digests);

        ExtractResult result = Extract(layer, digests.LayerDigest);

        File.ReadAllBytes(Path.Combine(_root, "usr/bin/git")).ShouldBe(Binary);
        File.ReadAllText(Path.Combine(_root, "etc/passwd")).ShouldBe("root:x:0:0::/:/sbin/nologin\n");
        File.ReadAllBytes(Path.Combine(_root, "usr/bin/auto-review")).ShouldBeEmpty();
        new FileInfo(Path.Combine(_root, "usr/bin/sh")).LinkTarget.ShouldBe("git");

        // Write bits dropped, read and execute bits kept; directories 0555.
        Lstat.PermissionBits(Path.Combine(_root, "usr/bin/git")).ShouldBe(0x16d);        // 0755 -> 0555
        Lstat.PermissionBits(Path.Combine(_root, "etc/passwd")).ShouldBe(0x124);         // 0644 -> 0444
        Lstat.PermissionBits(Path.Combine(_root, "usr/lib/private")).ShouldBe(0x100);    // 0600 -> 0400
        foreach (string dir in new[] { "etc", "usr", "usr/bin", "usr/lib", "usr/lib/git-core" })
            Lstat.PermissionBits(Path.Combine(_root, dir)).ShouldBe(0x16d, dir);

        // One inode, two names.
        var git = Lstat.Of(Path.Combine(_root, "usr/bin/git"));
        var builtin = Lstat.Of(Path.Combine(_root, "usr/lib/git-core/git"));
        builtin.Inode.ShouldBe(git.Inode);
        git.Links.ShouldBe(2UL);

        result.LayerDigest.ShouldBe(digests.LayerDigest);
        result.DiffId.ShouldBe(digests.DiffId);
        string binarySha = Convert.ToHexStringLower(SHA256.HashData(Binary));
        result.Entries.ShouldBe(
        [
            new ExtractedEntry("etc", EntryKind.Directory, 0x16d, 0, null, null),
            new ExtractedEntry("etc/passwd", EntryKind.File, 0x124, 28, Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes("root:x:0:0::/:/sbin/nologin\n"))), null),
            new ExtractedEntry("usr", EntryKind.Directory, 0x16d, 0, null, null),
            new ExtractedEntry("usr/bin", EntryKind.Directory, 0x16d, 0, null, null),
            new ExtractedEntry("usr/bin/auto-review", EntryKind.File, 0x16d, 0, Convert.ToHexStringLower(SHA256.HashData([])), null),
            new ExtractedEntry("usr/bin/git", EntryKind.File, 0x16d, Binary.Length, binarySha, null),
            new ExtractedEntry("usr/bin/sh", EntryKind.Symlink, 0x1ff, 0, null, "git"),
            new ExtractedEntry("usr/lib", EntryKind.Directory, 0x16d, 0, null, null),
            new ExtractedEntry("usr/lib/git-core", EntryKind.Directory, 0x16d, 0, null, null),
            new ExtractedEntry("usr/lib/git-core/git", EntryKind.Hardlink, 0x16d, Binary.Length, binarySha, "usr/bin/git"),
            new ExtractedEntry("usr/lib/libz.so.1", EntryKind.File, 0x124, 15, Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes("not really zlib"))), null),
            new ExtractedEntry("usr/lib/private", EntryKind.File, 0x100, 22, Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes("0600 on the build host"))), null),
        ]);
    }

    [Fact]
    public void RoundTrip_SwappedHardlinkAndLongPaths()
    {
        string[] parts = Enumerable.Range(0, 10).Select(i => $"level-{i}-{new string('d', 20)}").ToArray();
        string deep = string.Join('/', parts);
        var entries = Enumerable.Range(1, parts.Length).Select(n => new LayerEntry(string.Join('/', parts.Take(n)), EntryKind.Directory, 0x1ed)).ToList();
        entries.Add(new LayerEntry($"{deep}/the-file", EntryKind.File, 0x1a4, Content: Binary));
        entries.Add(new LayerEntry("a-link", EntryKind.Hardlink, 0x1a4, LinkTarget: $"{deep}/the-file"));
        byte[] layer = WriteLayer(entries, out _);

        ExtractResult result = Extract(layer);

        Lstat.Of(Path.Combine(_root, "a-link")).Inode.ShouldBe(Lstat.Of(Path.Combine(_root, deep, "the-file")).Inode);
        File.ReadAllBytes(Path.Combine(_root, deep, "the-file")).ShouldBe(Binary);
        // "a-link" sorts first, so it carries the data and the long path links to it.
        result.Entries[0].ShouldBe(new ExtractedEntry("a-link", EntryKind.File, 0x124, Binary.Length, Convert.ToHexStringLower(SHA256.HashData(Binary)), null));
        result.Entries[^1].ShouldBe(new ExtractedEntry($"{deep}/the-file", EntryKind.Hardlink, 0x124, Binary.Length, Convert.ToHexStringLower(SHA256.HashData(Binary)), "a-link"));
    }

    [SkippableFact]
    public void ExtractedTree_CannotBeModifiedByItsOwner()
    {
        Skip.If(Tmds.Linux.LibC.geteuid() == 0, "root ignores permission bits; the mode checks above still run");
        Extract(WriteLayer(Rootfs(), out _));

        Should.Throw<UnauthorizedAccessException>(() => File.AppendAllText(Path.Combine(_root, "etc/passwd"), "evil::0:0::/:/bin/sh\n"));
        Should.Throw<UnauthorizedAccessException>(() => File.WriteAllText(Path.Combine(_root, "usr/bin/new"), "x"));
        Should.Throw<UnauthorizedAccessException>(() => File.Delete(Path.Combine(_root, "usr/bin/git")));
    }

    [Fact]
    public void MakeWritable_AddsOwnerWriteToDirectoriesSoTheTreeCanBeDeleted()
    {
        Extract(WriteLayer(Rootfs(), out _));

        LayerExtractor.MakeWritable(_root);

        foreach (string dir in new[] { "", "etc", "usr", "usr/bin", "usr/lib/git-core" })
            Lstat.PermissionBits(Path.Combine(_root, dir)).ShouldBe(0x1ed, dir); // 0555 | 0700
        Lstat.PermissionBits(Path.Combine(_root, "usr/bin/git")).ShouldBe(0x16d); // files untouched
        Directory.Delete(_root, recursive: true);
    }

    [Fact]
    public void MakeWritable_DoesNotFollowSymlinks()
    {
        string tree = _scratch.NewDirectory("tree");
        File.CreateSymbolicLink(Path.Combine(tree, "to-outside"), _outside);
        File.SetUnixFileMode(_outside, (UnixFileMode)0x16d);
        File.SetUnixFileMode(tree, (UnixFileMode)0x16d);

        LayerExtractor.MakeWritable(tree);

        Lstat.PermissionBits(tree).ShouldBe(0x1ed);
        Lstat.PermissionBits(_outside).ShouldBe(0x16d);
    }

    // ---- Hostile archives ----

    [Theory]
    [InlineData("../outside/escaped")]
    [InlineData("etc/../../outside/escaped")]
    public void DotDotPath_IsRefused(string name)
    {
        Refused(Archive.Gzip(Archive.Dir("etc/"), Archive.File(name)))
            .ShouldBe($"layer entry '{name}': refused: path has a '..' component (expected a normalized path inside the rootfs)");
        File.Exists(Path.Combine(_outside, "escaped")).ShouldBeFalse();
    }

    [Fact]
    public void AbsolutePath_IsRefused()
    {
        string name = Path.Combine(_outside, "escaped");

        Refused(Archive.Gzip(Archive.File(name))).ShouldStartWith($"layer entry '{name}': refused: path is absolute");
        File.Exists(name).ShouldBeFalse();
    }

    [Theory]
    [InlineData("./")]
    [InlineData(".")]
    [InlineData("./etc/passwd")]
    [InlineData("etc/./passwd")]
    [InlineData("etc/.")]
    public void DotNamedEntry_IsRefused(string name)
    {
        TarEntry entry = name.EndsWith('/') ? Archive.Dir(name) : Archive.File(name);

        Refused(Archive.Gzip(Archive.Dir("etc/"), entry)).ShouldContain($"layer entry '{name}': refused: path has a '.' component");
    }

    [Theory]
    [InlineData("etc//passwd")]
    [InlineData("etc/passwd/")]
    public void EmptyPathComponent_IsRefused(string name)
    {
        Refused(Archive.Gzip(Archive.Dir("etc/"), Archive.File(name))).ShouldContain($"layer entry '{name}': refused: path has an empty component");
    }

    [Fact]
    public void SymlinkThenFileThroughIt_IsRefused_NothingWrittenOutsideTheRoot()
    {
        // Each symlink passes the lexical check ("x/l1" -> ".." is the root; "l2" -> "x/l1/.." is "x"), but the kernel
        // resolves l2 to x/l1/.. = (root)/.. = the directory holding the root. Writing "l2/escaped" through it would land
        // next to the root. Only the rule "never go through a symlink" stops it.
        byte[] layer = Archive.Gzip(
            Archive.Dir("x/"),
            Archive.Symlink("x/l1", ".."),
            Archive.Symlink("l2", "x/l1/.."),
            Archive.File("l2/escaped"));

        Refused(layer).ShouldBe("layer entry 'l2/escaped': refused: its parent path goes through symlink 'l2' extracted earlier (symlinks are never followed while extracting)");
        File.Exists(Path.Combine(_scratch.Path, "escaped")).ShouldBeFalse();
    }

    private string Refused(byte[] layer, bool freshRoot)
    {
        // Several layers into one test: each needs its own empty root.
        if (freshRoot)
        {
            LayerExtractor.MakeWritable(_root);
            Directory.Delete(_root, recursive: true);
            Directory.CreateDirectory(_root);
        }
        return Refused(layer);
    }

    [Theory]
    [InlineData("/etc/passwd")]
    [InlineData("/")]
    public void AbsoluteSymlink_IsRefused(string target)
    {
        Refused(Archive.Gzip(Archive.Symlink("evil", target)))
            .ShouldBe($"layer entry 'evil': refused: symlink target '{target}' is absolute (expected a relative target inside the rootfs)");
        Path.Exists(Path.Combine(_root, "evil")).ShouldBeFalse();
    }

    [Theory]
    [InlineData("..")]
    [InlineData("../outside")]
    [InlineData("a/../../outside")]
    [InlineData("../../../../../../../../etc/passwd")]
    public void SymlinkClimbingOutOfTheRoot_IsRefused(string target)
    {
        Refused(Archive.Gzip(Archive.Dir("usr/"), Archive.Symlink("usr/up", "../" + target)))
            .ShouldBe($"layer entry 'usr/up': refused: symlink target '../{target}' climbs above the rootfs root");
        Path.Exists(Path.Combine(_root, "usr/up")).ShouldBeFalse();
    }

    [Theory]
    [InlineData("../../etc/passwd", "has a '..' component")]
    [InlineData("/etc/passwd", "is absolute")]
    public void HardlinkToAFileOutsideTheTree_IsRefused(string target, string why)
    {
        Refused(Archive.Gzip(Archive.Hardlink("passwd", target))).ShouldStartWith($"layer entry 'passwd': refused: hardlink target '{target}' {why}");
        Path.Exists(Path.Combine(_root, "passwd")).ShouldBeFalse();
    }

    [Fact]
    public void HardlinkToMissingEntry_IsRefused()
    {
        Refused(Archive.Gzip(Archive.Hardlink("link", "missing"), Archive.File("missing")))
            .ShouldBe("layer entry 'link': refused: hardlink target 'missing' was not extracted earlier in this layer (expected a regular file of this layer)");
    }

    [Theory]
    [InlineData("dir", "directory")]
    [InlineData("sym", "symlink")]
    public void HardlinkToADirectoryOrSymlink_IsRefused(string target, string kind)
    {
        Refused(Archive.Gzip(Archive.Dir("dir/"), Archive.File("file"), Archive.Symlink("sym", "file"), Archive.Hardlink("link", target)))
            .ShouldBe($"layer entry 'link': refused: hardlink target '{target}' is a {kind} (expected a regular file of this layer)");
    }

    [Fact]
    public void CharacterDevice_IsRefused()
    {
        var device = new GnuTarEntry(TarEntryType.CharacterDevice, "dev/mem") { DeviceMajor = 1, DeviceMinor = 1, Mode = (UnixFileMode)0x1b6 };

        Refused(Archive.Gzip(Archive.Dir("dev/"), device)).ShouldBe("layer entry 'dev/mem': refused: character device (device nodes are not allowed in the rootfs)");
        Path.Exists(Path.Combine(_root, "dev/mem")).ShouldBeFalse();
    }

    [Fact]
    public void BlockDevice_IsRefused()
    {
        var device = new GnuTarEntry(TarEntryType.BlockDevice, "dev/sda") { DeviceMajor = 8, DeviceMinor = 0 };

        Refused(Archive.Gzip(Archive.Dir("dev/"), device)).ShouldBe("layer entry 'dev/sda': refused: block device (device nodes are not allowed in the rootfs)");
    }

    [Fact]
    public void Fifo_IsRefused()
    {
        Refused(Archive.Gzip(new GnuTarEntry(TarEntryType.Fifo, "pipe")))
            .ShouldBe("layer entry 'pipe': refused: FIFO (only directories, regular files, symlinks and hardlinks are allowed)");
        Path.Exists(Path.Combine(_root, "pipe")).ShouldBeFalse();
    }

    [Fact]
    public void UnknownEntryType_IsRefused()
    {
        // System.Formats.Tar will not write an unknown type, so patch the typeflag byte and the header checksum.
        byte[] tar = Archive.Tar(Archive.File("weird"));
        tar[156] = (byte)'Z';
        int sum = tar.AsSpan(0, 512).ToArray().Select((b, i) => i is >= 148 and < 156 ? 32 : b).Sum();
        Encoding.ASCII.GetBytes(Convert.ToString(sum, 8).PadLeft(6, '0') + "\0 ").CopyTo(tar, 148);

        Refused(Archive.GzipTar(tar)).ShouldStartWith("layer entry 'weird': refused: entry type 'Z'");
    }

    [Fact]
    public void SetuidFile_IsRefused()
    {
        Refused(Archive.Gzip(Archive.File("su", mode: 0x9ed)))
            .ShouldBe("layer entry 'su': refused: mode 04755 has setuid, setgid or sticky bits (the rootfs must not carry privilege bits)");
        Path.Exists(Path.Combine(_root, "su")).ShouldBeFalse();
    }

    [Theory]
    [InlineData(0x5ed)] // 02755 setgid
    [InlineData(0x3ff)] // 01777 sticky
    public void SetgidOrStickyDirectory_IsRefused(int mode)
    {
        Refused(Archive.Gzip(Archive.Dir("tmp/", mode))).ShouldContain("layer entry 'tmp/': refused: mode ");
    }

    [Fact]
    public void DuplicateEntry_IsRefused_TheFirstIsNotReplaced()
    {
        Refused(Archive.Gzip(Archive.File("f", "first"), Archive.File("f", "second")))
            .ShouldBe("layer entry 'f': refused: the path appears twice in the layer (an entry may not replace another)");
        File.ReadAllText(Path.Combine(_root, "f")).ShouldBe("first");
    }

    [Fact]
    public void ParentThatIsAFile_IsRefused()
    {
        Refused(Archive.Gzip(Archive.File("etc"), Archive.File("etc/passwd")))
            .ShouldBe("layer entry 'etc/passwd': refused: parent 'etc' is a file (expected a directory)");
    }

    [Fact]
    public void TruncatedPayload_IsRefused()
    {
        byte[] layer = WriteLayer(Rootfs(), out _);
        // Inside the header, inside the deflate data, at the start and in the middle of the trailer, one byte short.
        int[] cuts = [1, 5, 10, 11, 100, layer.Length / 3, layer.Length / 2, layer.Length - 100, layer.Length - 8, layer.Length - 4, layer.Length - 1];

        foreach (int cut in cuts)
        {
            string message = Refused(layer[..cut], freshRoot: true);
            message.ShouldContain("truncated or corrupt", customMessage: $"cut at {cut} of {layer.Length}");
        }
    }

    [Fact]
    public void CorruptDeflateData_IsRefused()
    {
        byte[] layer = WriteLayer(Rootfs(), out _);

        foreach (int offset in new[] { 20, layer.Length / 2, layer.Length - 12 })
        {
            byte[] corrupt = (byte[])layer.Clone();
            corrupt[offset] ^= 0x40;
            Refused(corrupt, freshRoot: true).ShouldContain("corrupt", customMessage: $"byte {offset} of {layer.Length} flipped");
        }
    }

    [Fact]
    public void GzipTrailerCrc32_MatchesTheStandardCheckValueAndZlib()
    {
        // The CRC-32 check value (RFC 1952's polynomial over "123456789"), then the trailer zlib itself writes.
        Crc32.Finish(Crc32.Update(Crc32.Initial, "123456789"u8)).ShouldBe(0xCBF43926u);
        byte[] data = RandomNumberGenerator.GetBytes(100_003); // not a multiple of 8: both loops run
        byte[] gzip = Archive.GzipTar(data);
        Crc32.Finish(Crc32.Update(Crc32.Initial, data)).ShouldBe(System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(gzip.AsSpan(gzip.Length - 8)));
    }

    [Fact]
    public void ExtraBytesAfterTheGzipMember_AreRefused()
    {
        byte[] layer = WriteLayer(Rootfs(), out _);

        Refused([.. layer, .. "garbage"u8]).ShouldContain("truncated or corrupt");
    }

    [Fact]
    public void WrongDigest_IsRefused()
    {
        byte[] layer = WriteLayer(Rootfs(), out LayerDigests digests);
        string other = "sha256:" + Convert.ToHexStringLower(SHA256.HashData("another layer"u8));

        Should.Throw<BundleException>(() => Extract(layer, other)).Message
            .ShouldBe($"{_root}: layer digest is {digests.LayerDigest}, expected {other} (corrupt or substituted payload)");
    }

    [Theory]
    [InlineData("sha256:ABCDEF")]
    [InlineData("sha512:0000000000000000000000000000000000000000000000000000000000000000")]
    [InlineData("sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855")]
    public void MalformedExpectedDigest_IsRefusedBeforeAnythingIsWritten(string expected)
    {
        Should.Throw<BundleException>(() => Extract(WriteLayer(Rootfs(), out _), expected)).Message.ShouldContain("is malformed");
        Directory.EnumerateFileSystemEntries(_root).ShouldBeEmpty();
    }

    [Fact]
    public void NonEmptyTarget_IsRefused()
    {
        File.WriteAllText(Path.Combine(_root, "already-here"), "x");

        Should.Throw<BundleException>(() => Extract(WriteLayer(Rootfs(), out _))).Message
            .ShouldBe($"{_root}: cannot extract into it: it is not empty (expected an existing empty directory)");
        Directory.EnumerateFileSystemEntries(_root).ShouldBe([Path.Combine(_root, "already-here")]);
    }

    [Fact]
    public void MissingTarget_IsRefused()
    {
        string missing = Path.Combine(_scratch.Path, "missing");

        Should.Throw<BundleException>(() => LayerExtractor.Extract(new MemoryStream(WriteLayer(Rootfs(), out _)), missing)).Message
            .ShouldBe($"{missing}: cannot extract into it: it does not exist (expected an existing empty directory)");
    }

    [Fact]
    public void TargetThatIsASymlink_IsRefused()
    {
        string link = Path.Combine(_scratch.Path, "link-to-root");
        File.CreateSymbolicLink(link, _root);

        Should.Throw<BundleException>(() => LayerExtractor.Extract(new MemoryStream(WriteLayer(Rootfs(), out _)), link)).Message
            .ShouldContain("it is not a directory (or is a symlink)");
        Directory.EnumerateFileSystemEntries(_root).ShouldBeEmpty();
    }
}
