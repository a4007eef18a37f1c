using System.Formats.Tar;
using System.Runtime.Versioning;
using System.Security.Cryptography;
using System.Text;
using AutoReview.Bundle.Layer;
using Shouldly;
using Tmds.Linux;
using Xunit;

namespace AutoReview.Bundle.Tests.Layer;

[SupportedOSPlatform("linux")] // file modes and inodes are the subject; the layer is for Linux only
public sealed class LayerWriterTests : IDisposable
{
    private static readonly DateTimeOffset Mtime = DateTimeOffset.FromUnixTimeSeconds(1_700_000_000);
    private readonly ScratchDirectory _scratch = new();

    public void Dispose() => _scratch.Dispose();

    private static byte[] Write(IReadOnlyCollection<LayerEntry> entries, out LayerDigests digests)
    {
        var output = new MemoryStream();
        digests = LayerWriter.Write(entries, output, Mtime);
        return output.ToArray();
    }

    private static byte[] Write(IReadOnlyCollection<LayerEntry> entries) => Write(entries, out _);

    private static LayerEntry Dir(string path) => new(path, EntryKind.Directory, 0x1ed);
    private static LayerEntry Text(string path, string content, int mode = 0x1a4) => new(path, EntryKind.File, mode, Content: Encoding.UTF8.GetBytes(content));

    private static List<LayerEntry> SmallTree() =>
    [
        Dir("etc"),
        Text("etc/passwd", "root:x:0:0::/:/sbin/nologin\n"),
        Dir("usr"),
        Dir("usr/bin"),
        Text("usr/bin/git", "#!git\n", 0x1ed),
        new("usr/bin/git-link", EntryKind.Hardlink, 0x1ed, LinkTarget: "usr/bin/git"),
        new("usr/bin/sh", EntryKind.Symlink, 0x1ff, LinkTarget: "git"),
    ];

    [Fact]
    public void SameEntries_WrittenTwiceInAnyOrder_GiveIdenticalBytes()
    {
        List<LayerEntry> entries = SmallTree();
        byte[] first = Write(entries, out LayerDigests firstDigests);
        entries.Reverse();
        byte[] second = Write(entries, out LayerDigests secondDigests);

        second.ShouldBe(first);
        secondDigests.ShouldBe(firstDigests);
    }

    [Fact]
    public void SourceFilesWithDifferentPathsTimesAndDiskModes_GiveIdenticalBytesAndDigests()
    {
        byte[] binary = RandomNumberGenerator.GetBytes(100_000);
        LayerDigests Build(string directory, DateTime mtime, UnixFileMode diskMode, out byte[] bytes)
        {
            string source = Path.Combine(_scratch.NewDirectory(directory), "git-binary");
            File.WriteAllBytes(source, binary);
            File.SetUnixFileMode(source, diskMode);
            File.SetLastWriteTimeUtc(source, mtime);
            File.SetLastAccessTimeUtc(source, mtime);
            bytes = Write([Dir("usr"), Dir("usr/bin"), new("usr/bin/git", EntryKind.File, 0x1ed, SourcePath: source)], out LayerDigests digests);
            return digests;
        }

        LayerDigests a = Build("host-a", new DateTime(2001, 1, 1, 0, 0, 0, DateTimeKind.Utc), UnixFileMode.UserRead | UnixFileMode.UserWrite, out byte[] bytesA);
        LayerDigests b = Build("host-b-with-a-longer-name", new DateTime(2024, 6, 30, 12, 34, 56, DateTimeKind.Utc),
            UnixFileMode.UserRead | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.OtherRead, out byte[] bytesB);

        bytesB.ShouldBe(bytesA);
        b.ShouldBe(a);
    }

    [SkippableFact]
    [Trait("Category", "RequiresRoot")] // .ci/run runs this category as root
    public void SourceFileOwner_DoesNotReachTheLayer()
    {
        Skip.IfNot(LibC.geteuid() == 0, "changing a file's owner needs root");
        byte[] content = Encoding.UTF8.GetBytes("owned by someone");
        string mine = Path.Combine(_scratch.NewDirectory("mine"), "f");
        string theirs = Path.Combine(_scratch.NewDirectory("theirs"), "f");
        File.WriteAllBytes(mine, content);
        File.WriteAllBytes(theirs, content);
        Chown(theirs, 12345, 54321);

        Write([new("f", EntryKind.File, 0x1a4, SourcePath: theirs)]).ShouldBe(Write([new("f", EntryKind.File, 0x1a4, SourcePath: mine)]));
    }

    private static unsafe void Chown(string path, uint uid, uint gid)
    {
        byte[] z = Encoding.UTF8.GetBytes(path + "\0");
        fixed (byte* p = z)
            LibC.chown(p, uid, gid).ShouldBe(0);
    }

    [Fact]
    public void Entries_AreSortedOrdinallyByPath()
    {
        // Ordinal: 'B' (0x42) < 'a' (0x61), and "usr-x" < "usr/bin" because '-' (0x2d) < '/' (0x2f).
        List<LayerEntry> entries = [Dir("usr/bin"), Text("usr-x", "x"), Text("a", "a"), Dir("usr"), Text("B", "b"), Text("usr/bin/z", "z"), Text("usr/a", "a")];

        List<string> names = Archive.ReadEntries(Write(entries)).Select(e => e.Name).ToList();

        names.ShouldBe(["B", "a", "usr/", "usr-x", "usr/a", "usr/bin/", "usr/bin/z"]);
    }

    [Fact]
    public void Headers_CarryRootOwnershipEmptyNamesAndTheFixedMtime()
    {
        List<GnuTarEntry> entries = Archive.ReadEntries(Write(SmallTree()));

        entries.Count.ShouldBe(7);
        foreach (GnuTarEntry entry in entries)
        {
            entry.Format.ShouldBe(TarEntryFormat.Gnu, entry.Name);
            entry.Uid.ShouldBe(0, entry.Name);
            entry.Gid.ShouldBe(0, entry.Name);
            entry.UserName.ShouldBe("", entry.Name);
            entry.GroupName.ShouldBe("", entry.Name);
            entry.ModificationTime.ShouldBe(Mtime, entry.Name);
            // Empty atime/ctime fields read back as default: nothing of the build's clock is in the header.
            entry.AccessTime.ShouldBe(default, entry.Name);
            entry.ChangeTime.ShouldBe(default, entry.Name);
        }
        entries.Single(e => e.Name == "etc/passwd").Mode.ShouldBe((UnixFileMode)0x1a4);
        entries.Single(e => e.Name == "usr/bin/git").Mode.ShouldBe((UnixFileMode)0x1ed);
        entries.Single(e => e.Name == "usr/bin/sh").LinkName.ShouldBe("git");
    }

    [Fact]
    public void SubSecondMtime_IsTruncatedToTheSecond()
    {
        var output = new MemoryStream();
        LayerWriter.Write([Text("f", "x")], output, Mtime.AddMilliseconds(999));

        output.ToArray().ShouldBe(Write([Text("f", "x")]));
    }

    [Fact]
    public void MtimeBeforeTheEpoch_Throws()
    {
        Should.Throw<BundleException>(() => LayerWriter.Write([Text("f", "x")], new MemoryStream(), DateTimeOffset.UnixEpoch.AddSeconds(-1)))
            .Message.ShouldContain("before 1970");
    }

    [Fact]
    public void GzipHeader_HasNoTimestampAndTheUnixOsByte()
    {
        byte[] layer = Write(SmallTree());

        // ID1 ID2 CM=deflate FLG=0 MTIME=0 XFL=2 (zlib level 9) OS=3 (Unix). MTIME is the build-time leak gzip(1)
        // avoids with -n; OS is fixed by the zlib build, so a runtime that changed it would change the blob.
        layer[..10].ShouldBe(new byte[] { 0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 3 });
    }

    [Fact]
    public void Digests_DescribeTheBytesWritten()
    {
        byte[] layer = Write(SmallTree(), out LayerDigests digests);
        byte[] tar = Archive.Gunzip(layer);

        digests.LayerDigest.ShouldBe("sha256:" + Convert.ToHexStringLower(SHA256.HashData(layer)));
        digests.DiffId.ShouldBe("sha256:" + Convert.ToHexStringLower(SHA256.HashData(tar)));
        digests.CompressedSize.ShouldBe(layer.Length);
        digests.UncompressedSize.ShouldBe(tar.Length);
    }

    /// <summary>
    /// The published image and the embedded payload must be the same blob, so a change in the tar writer or in the
    /// runtime's zlib that alters the bytes must be seen. If this fails after an SDK update, the layer digest of every
    /// future build changes: update the pins knowingly (and note it in the release).
    /// </summary>
    [Fact]
    public void KnownEntries_GiveThePinnedDigests()
    {
        Write(SmallTree(), out LayerDigests digests);

        digests.DiffId.ShouldBe(PinnedDiffId);
        digests.LayerDigest.ShouldBe(PinnedLayerDigest);
    }

    private const string PinnedDiffId = "sha256:655ac61ea87e7f73dec1754bc93448de49f4ba4e7d02d0c0b955b96e527001c7";
    private const string PinnedLayerDigest = "sha256:489317e6eff0384e2f85ce8cf33a296a2977080382391a0048b01c6773de6980";

    [Fact]
    public void LongPathsAndLongLinkTargets_RoundTripThroughTheTarHeaders()
    {
        // Over 100 bytes (the name field of a tar header) and over 255 (Ustar's name + prefix).
        var dirs = new List<string>();
        string path = "";
        for (int i = 0; i < 12; i++)
        {
            path = path.Length == 0 ? $"directory-{i:D2}-abcdefghij" : $"{path}/directory-{i:D2}-abcdefghij";
            dirs.Add(path);
        }
        string file = path + "/a-file-with-a-long-name.so.1.2.3";
        string hardlink = path + "/hardlink";
        string symlink = "short-symlink";
        List<LayerEntry> entries = [.. dirs.Select(Dir), Text(file, "long"), new(hardlink, EntryKind.Hardlink, 0x1a4, LinkTarget: file), new(symlink, EntryKind.Symlink, 0x1ff, LinkTarget: file)];
        file.Length.ShouldBeGreaterThan(300);

        List<GnuTarEntry> read = Archive.ReadEntries(Write(entries));

        read.Single(e => e.EntryType == TarEntryType.RegularFile).Name.ShouldBe(file);
        read.Single(e => e.EntryType == TarEntryType.HardLink).Name.ShouldBe(hardlink);
        read.Single(e => e.EntryType == TarEntryType.HardLink).LinkName.ShouldBe(file);
        read.Single(e => e.EntryType == TarEntryType.SymbolicLink).LinkName.ShouldBe(file);
    }

    [Fact]
    public void HardlinkSortedBeforeItsTarget_CarriesTheDataAndTheTargetLinksToIt()
    {
        // "a/git" sorts before "z/git": an extractor meeting a link to "z/git" first could not resolve it.
        List<LayerEntry> entries = [Dir("a"), Dir("z"), Text("z/git", "the binary", 0x1ed), new("a/git", EntryKind.Hardlink, 0x1ed, LinkTarget: "z/git")];

        List<GnuTarEntry> read = Archive.ReadEntries(Write(entries));

        GnuTarEntry carrier = read.Single(e => e.Name == "a/git");
        carrier.EntryType.ShouldBe(TarEntryType.RegularFile);
        new StreamReader(carrier.DataStream!).ReadToEnd().ShouldBe("the binary");
        carrier.Mode.ShouldBe((UnixFileMode)0x1ed);
        GnuTarEntry link = read.Single(e => e.Name == "z/git");
        link.EntryType.ShouldBe(TarEntryType.HardLink);
        link.LinkName.ShouldBe("a/git");
        read.Select(e => e.Name).ShouldBe(["a/", "a/git", "z/", "z/git"]);
    }

    [Fact]
    public void SeveralHardlinksToOneFile_AllLinkToTheFirstPathInOrder()
    {
        List<LayerEntry> entries = [Text("m", "data"), new("z", EntryKind.Hardlink, 0x1a4, LinkTarget: "m"), new("b", EntryKind.Hardlink, 0x1a4, LinkTarget: "m")];

        List<GnuTarEntry> read = Archive.ReadEntries(Write(entries));

        read.Select(e => (e.Name, e.EntryType, e.LinkName)).ShouldBe([("b", TarEntryType.RegularFile, ""), ("m", TarEntryType.HardLink, "b"), ("z", TarEntryType.HardLink, "b")]);
    }

    [Fact]
    public void MissingParentDirectory_Throws()
    {
        Should.Throw<BundleException>(() => Write([Dir("usr"), Text("usr/bin/git", "x")]))
            .Message.ShouldBe("usr/bin/git: parent directory 'usr/bin' has no entry (expected a directory entry for every parent, so its mode is explicit)");
    }

    [Fact]
    public void ParentThatIsNotADirectory_Throws()
    {
        Should.Throw<BundleException>(() => Write([Text("usr", "x"), Text("usr/git", "x")]))
            .Message.ShouldContain("parent 'usr' is a file (expected a directory)");
    }

    [Fact]
    public void DuplicatePath_Throws()
    {
        Should.Throw<BundleException>(() => Write([Text("f", "one"), Text("f", "two")]))
            .Message.ShouldContain("f: the path appears twice");
    }

    [Theory]
    [InlineData("missing", "has no entry")]
    [InlineData("sym", "is a symlink (expected a file entry")]
    [InlineData("link", "is a hardlink (expected a file entry")]
    [InlineData("dir", "is a directory (expected a file entry")]
    public void HardlinkToSomethingOtherThanAFileEntry_Throws(string target, string expected)
    {
        List<LayerEntry> entries = [Text("file", "x"), new("sym", EntryKind.Symlink, 0x1ff, LinkTarget: "file"), new("link", EntryKind.Hardlink, 0x1a4, LinkTarget: "file"), Dir("dir"),
            new("new", EntryKind.Hardlink, 0x1a4, LinkTarget: target)];

        Should.Throw<BundleException>(() => Write(entries)).Message.ShouldContain($"new: hardlink target '{target}' {expected}");
    }

    [Fact]
    public void HardlinkWithADifferentModeThanItsTarget_Throws()
    {
        Should.Throw<BundleException>(() => Write([Text("file", "x", 0x1a4), new("link", EntryKind.Hardlink, 0x1ed, LinkTarget: "file")]))
            .Message.ShouldContain("hardlink mode 0755 differs from its target 'file' (0644)");
    }

    [Fact]
    public void SourceThatIsADirectory_Throws()
    {
        Should.Throw<BundleException>(() => Write([new("f", EntryKind.File, 0x1a4, SourcePath: _scratch.Path)]))
            .Message.ShouldBe($"f: source '{_scratch.Path}' is a directory (expected a regular file)");
    }

    [Fact]
    public void MissingSource_ThrowsNamingTheEntryAndTheSource()
    {
        string missing = Path.Combine(_scratch.Path, "missing");
        string message = Should.Throw<BundleException>(() => Write([new("f", EntryKind.File, 0x1a4, SourcePath: missing)])).Message;

        message.ShouldStartWith($"f: source '{missing}': stat failed: ");
        message.ShouldContain("(errno 2)");
    }

    public static TheoryData<LayerEntry, string> InvalidEntries => new()
    {
        { new LayerEntry("", EntryKind.Directory, 0x1ed), "path is empty" },
        { new LayerEntry("/etc", EntryKind.Directory, 0x1ed), "path is absolute" },
        { new LayerEntry("etc/", EntryKind.Directory, 0x1ed), "has an empty component" },
        { new LayerEntry("etc//passwd", EntryKind.Directory, 0x1ed), "has an empty component" },
        { new LayerEntry("./etc", EntryKind.Directory, 0x1ed), "has a '.' component" },
        { new LayerEntry("etc/../passwd", EntryKind.Directory, 0x1ed), "has a '..' component" },
        { new LayerEntry("..", EntryKind.Directory, 0x1ed), "has a '..' component" },
        { new LayerEntry(new string('n', 256), EntryKind.Directory, 0x1ed), "has a component longer than 255 bytes" },
        { new LayerEntry("f", EntryKind.File, 0x9ed, Content: []), "mode 04755 has setuid, setgid or sticky bits" },
        { new LayerEntry("f", EntryKind.File, 0x5ed, Content: []), "mode 02755 has setuid, setgid or sticky bits" },
        { new LayerEntry("d", EntryKind.Directory, 0x3ff), "mode 01777 has setuid, setgid or sticky bits" },
        { new LayerEntry("f", EntryKind.File, -1, Content: []), "is not a permission mode" },
        { new LayerEntry("f", EntryKind.File, 0x81a4, Content: []), "mode 0100644 is not a permission mode" },
        { new LayerEntry("f", EntryKind.File, 0x1a4), "needs exactly one of SourcePath and Content, found neither" },
        { new LayerEntry("f", EntryKind.File, 0x1a4, SourcePath: "/etc/hostname", Content: []), "found both" },
        { new LayerEntry("f", EntryKind.File, 0x1a4, Content: [], LinkTarget: "x"), "a file entry must not set LinkTarget" },
        { new LayerEntry("d", EntryKind.Directory, 0x1ed, Content: []), "a directory entry must not set Content" },
        { new LayerEntry("s", EntryKind.Symlink, 0x1ff), "a symlink entry needs a LinkTarget" },
        { new LayerEntry("s", EntryKind.Symlink, 0x1ff, LinkTarget: "/usr/bin/git"), "symlink target '/usr/bin/git' is absolute" },
        { new LayerEntry("usr/s", EntryKind.Symlink, 0x1ff, LinkTarget: "../../etc"), "symlink target '../../etc' climbs above the rootfs root" },
        { new LayerEntry("s", EntryKind.Symlink, 0x1ff, LinkTarget: ""), "symlink target '' is empty" },
        { new LayerEntry("s", EntryKind.Symlink, 0x1ed, LinkTarget: "x"), "symlink mode is 0755, expected 0777" },
        { new LayerEntry("h", EntryKind.Hardlink, 0x1a4), "a hardlink entry needs a LinkTarget" },
        { new LayerEntry("h", EntryKind.Hardlink, 0x1a4, LinkTarget: "/usr/bin/git"), "hardlink target '/usr/bin/git' is absolute" },
        { new LayerEntry("h", EntryKind.Hardlink, 0x1a4, LinkTarget: "../x"), "hardlink target '../x' has a '..' component" },
        { new LayerEntry("h", EntryKind.Hardlink, 0x1a4, LinkTarget: "h"), "hardlink to itself" },
        { new LayerEntry("h", EntryKind.Hardlink, 0x1a4, Content: [], LinkTarget: "x"), "a hardlink entry must not set Content" },
        { new LayerEntry("x", (EntryKind)42, 0x1a4), "unknown entry kind 42" },
    };

    [Theory]
    [MemberData(nameof(InvalidEntries))]
    public void InvalidEntry_IsRefusedByValidateAndByTheWriter(LayerEntry entry, string expected)
    {
        Should.Throw<BundleException>(entry.Validate).Message.ShouldContain(expected);
        Should.Throw<BundleException>(() => Write([entry])).Message.ShouldContain(expected);
    }

    [Theory]
    [InlineData("usr/bin/sh", "dash")]
    [InlineData("usr/bin/sh", "../lib/../bin/./dash")]
    [InlineData("usr/lib/x", "../../etc/hosts")]
    [InlineData("s", ".")]
    public void SymlinkTargetThatStaysInside_IsValid(string path, string target)
    {
        new LayerEntry(path, EntryKind.Symlink, 0x1ff, LinkTarget: target).Validate();
    }
}
