using System.Buffers.Binary;
using AutoReview.Bundle.Elf;
using Shouldly;
using Xunit;

namespace AutoReview.Bundle.Tests.Elf;

public sealed class ElfFileTests : IDisposable
{
    private const string Git = "/usr/bin/git";
    private const string GitRemoteHttp = "/usr/lib/git-core/git-remote-http";
    private const string Libz = "/lib/x86_64-linux-gnu/libz.so.1";

    private readonly string _dir = Directory.CreateTempSubdirectory("elf-tests-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string name, byte[] bytes)
    {
        string path = Path.Join(_dir, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private static void SkipUnlessPresent(params string[] paths)
    {
        foreach (string path in paths)
            Skip.IfNot(File.Exists(path), $"{path} is not installed on this machine");
    }

    // --- Real files on this machine, read by readelf as the oracle ---

    [SkippableFact]
    public void Git_InterpreterAndNeededList_MatchReadelf()
    {
        SkipUnlessPresent(Git);
        Skip.If(Oracle.Readelf is null, Oracle.ReadelfMissing);

        ElfFile git = ElfFile.Read(Git);

        git.Interpreter.ShouldBe("/lib64/ld-linux-x86-64.so.2");
        git.Needed.ShouldBe(Oracle.ReadElf(Git).Needed);
        git.Needed.ShouldContain("libpcre2-8.so.0");
        git.Needed.ShouldContain("libz.so.1");
        git.Needed.ShouldContain("libc.so.6");
        git.Soname.ShouldBeNull();
    }

    [SkippableFact]
    public void GitRemoteHttp_NeedsLibcurlGnutls_AsReadelfSays()
    {
        SkipUnlessPresent(GitRemoteHttp);
        Skip.If(Oracle.Readelf is null, Oracle.ReadelfMissing);

        ElfFile helper = ElfFile.Read(GitRemoteHttp);

        helper.Needed.ShouldBe(Oracle.ReadElf(GitRemoteHttp).Needed);
        helper.Needed.ShouldContain("libcurl-gnutls.so.4");
        helper.Interpreter.ShouldBe("/lib64/ld-linux-x86-64.so.2");
    }

    [SkippableFact]
    public void Libz_HasItsSonameAndNoInterpreter()
    {
        SkipUnlessPresent(Libz);

        ElfFile libz = ElfFile.Read(Libz);

        libz.Soname.ShouldBe("libz.so.1");
        libz.Interpreter.ShouldBeNull();
        libz.Needed.ShouldContain("libc.so.6");
    }

    /// <summary>A sweep over every ELF file in git-core and every shared object in the multiarch library directory (some with RUNPATH).</summary>
    [SkippableFact]
    public void EveryInstalledLibraryAndGitHelper_ReadsAsReadelfReadsIt()
    {
        Skip.If(Oracle.Readelf is null, Oracle.ReadelfMissing);
        var files = new[] { ("/usr/lib/git-core", "*"), ("/usr/lib/x86_64-linux-gnu", "*.so*") }
            .Where(d => Directory.Exists(d.Item1))
            .SelectMany(d => Directory.EnumerateFiles(d.Item1, d.Item2))
            .Where(f => new FileInfo(f).LinkTarget is null && StartsWithElfMagic(f))
            .Order(StringComparer.Ordinal)
            .ToList();
        Skip.If(files.Count < 20, "too few ELF files installed for a meaningful sweep");

        var mismatches = new List<string>();
        foreach (string file in files)
        {
            ElfFile elf = ElfFile.Read(file);
            ReadelfView expected = Oracle.ReadElf(file);
            var actual = new ReadelfView(elf.Interpreter, elf.Needed, elf.Soname, elf.RunPath, elf.RPath);
            if (actual.Interpreter != expected.Interpreter || !actual.Needed.SequenceEqual(expected.Needed) || actual.Soname != expected.Soname
                || actual.RunPath != expected.RunPath || actual.RPath != expected.RPath)
                mismatches.Add($"{file}: read {actual}, readelf says {expected}");
        }

        mismatches.ShouldBeEmpty();
    }

    // --- Files built here, so each field can be chosen ---

    [SkippableFact]
    public void BuiltFile_EveryField_ReadsBackAndAgreesWithReadelf()
    {
        var built = new TestElf
        {
            Interpreter = "/lib64/ld-linux-x86-64.so.2",
            Needed = ["libone.so.1", "libtwo.so.2", "libthree.so.3"],
            Soname = "libbuilt.so.7",
            RunPath = "$ORIGIN/../lib:/opt/x",
            RPath = "/opt/ignored",
            Flags1 = 0x800,
        };
        string path = Write("built", built.Build());

        ElfFile elf = ElfFile.Read(path);

        elf.Path.ShouldBe(path);
        elf.Interpreter.ShouldBe("/lib64/ld-linux-x86-64.so.2");
        elf.Needed.ShouldBe(["libone.so.1", "libtwo.so.2", "libthree.so.3"]);
        elf.Soname.ShouldBe("libbuilt.so.7");
        elf.RunPath.ShouldBe("$ORIGIN/../lib:/opt/x");
        elf.RPath.ShouldBe("/opt/ignored");
        elf.NoDefaultLibraries.ShouldBeTrue();

        Skip.If(Oracle.Readelf is null, Oracle.ReadelfMissing);
        ReadelfView oracle = Oracle.ReadElf(path);
        oracle.Interpreter.ShouldBe(elf.Interpreter);
        oracle.Needed.ShouldBe(elf.Needed);
        oracle.Soname.ShouldBe(elf.Soname);
        oracle.RunPath.ShouldBe(elf.RunPath);
        oracle.RPath.ShouldBe(elf.RPath);
    }

    [Fact]
    public void StringTable_IsFoundThroughItsLoadSegment_NotUsedAsAFileOffset()
    {
        // TestElf maps the file at 0x200000, so DT_STRTAB is far beyond the end of the file as an offset.
        ElfFile elf = ElfFile.Read(Write("lib", TestElf.Library("libmapped.so.1", "libc.so.6").Build()));

        elf.Soname.ShouldBe("libmapped.so.1");
        elf.Needed.ShouldBe(["libc.so.6"]);
        elf.NoDefaultLibraries.ShouldBeFalse();
    }

    [Fact]
    public void StaticExecutable_WithoutDynamicSection_NeedsNothing()
    {
        ElfFile elf = ElfFile.Read(Write("static", new TestElf { Dynamic = false, Type = 2 }.Build()));

        elf.Needed.ShouldBeEmpty();
        elf.Interpreter.ShouldBeNull();
        elf.Soname.ShouldBeNull();
    }

    // --- What is not an x86-64 ELF file ---

    [Fact]
    public void TextFile_IsNotAnElfFile()
    {
        string path = Write("notes.txt", "this is a text file, not a library\n"u8.ToArray());

        ShouldFail(path, "not an x86-64 ELF file (no ELF magic number)");
    }

    [Fact]
    public void EmptyFile_IsNotAnElfFile() => ShouldFail(Write("empty", []), "not an x86-64 ELF file (only 0 bytes)");

    [Fact]
    public void MissingFile_IsReportedWithItsPath() => ShouldFail(Path.Join(_dir, "absent"), "cannot read");

    [SkippableFact]
    public void TruncatedGit_First100Bytes_IsReportedAsTruncated()
    {
        SkipUnlessPresent(Git);
        var head = new byte[100];
        using (FileStream git = File.OpenRead(Git))
            git.ReadExactly(head);

        ShouldFail(Write("git-head", head), "truncated or corrupt: program headers");
    }

    [Fact]
    public void ThirtyTwoBitElf_IsRejectedWithItsClass()
    {
        string path = Write("lib32.so", TestElf.Elf32Header());

        ShouldFail(path, "not an x86-64 ELF file (ELFCLASS32, expected ELFCLASS64)");
        ElfFile.ReadCandidate(path).ShouldBeNull();
    }

    [Fact]
    public void Aarch64Elf_IsRejectedWithItsMachine()
    {
        string path = Write("arm64.so", (TestElf.Library("libarm.so.1") with { Machine = 183 }).Build());

        ShouldFail(path, "not an x86-64 ELF file (e_machine 183 (AArch64), expected 62 (x86-64))");
        ElfFile.ReadCandidate(path).ShouldBeNull();
    }

    [Fact]
    public void BigEndianElf_IsRejected_AndIsNotAQuietlySkippedCandidate()
    {
        byte[] bytes = TestElf.Library("libbe.so.1").Build();
        bytes[5] = 2; // ELFDATA2MSB
        string path = Write("be.so", bytes);

        ShouldFail(path, "not an x86-64 ELF file (big-endian, expected little-endian)");
        Should.Throw<BundleException>(() => ElfFile.ReadCandidate(path));
    }

    [Fact]
    public void RelocatableObject_IsNeitherExecutableNorSharedObject() =>
        ShouldFail(Write("x.o", (TestElf.Library("x") with { Type = 1 }).Build()), "e_type 1 is neither an executable");

    [Fact]
    public void StringTableOutsideEveryLoadSegment_IsCorrupt() =>
        ShouldFail(Write("lib", (TestElf.Library("libx.so.1") with { StrtabAddress = 0x900000 }).Build()), "DT_STRTAB 0x900000 is not inside any PT_LOAD segment");

    [Fact]
    public void DynamicSectionCutShort_IsTruncated()
    {
        byte[] bytes = TestElf.Library("libx.so.1", "libc.so.6").Build();

        ShouldFail(Write("cut", bytes[..^8]), "truncated or corrupt: PT_DYNAMIC");
    }

    [Fact]
    public void NeededOffsetBeyondTheStringTable_IsCorrupt()
    {
        byte[] bytes = TestElf.Library("libx.so.1", "libc.so.6").Build();
        int dynamic = (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(64 + 56 + 8)); // PT_DYNAMIC p_offset
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(dynamic + 8), 0xffff); // DT_NEEDED is the first entry

        ShouldFail(Write("lib", bytes), "DT_NEEDED string offset 65535 is outside the string table");
    }

    [Fact]
    public void InterpreterWithoutTerminatingNul_IsCorrupt()
    {
        byte[] bytes = TestElf.Executable("libc.so.6").Build();
        ulong size = BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(64 + 32)); // PT_INTERP is the first header
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(64 + 32), size - 1);

        ShouldFail(Write("exe", bytes), "PT_INTERP is not NUL-terminated");
    }

    /// <summary>
    /// Every prefix of a file and thousands of single-byte corruptions either parse or give a BundleException:
    /// no IndexOutOfRangeException, OverflowException or OutOfMemoryException from lengths read out of the file.
    /// </summary>
    [Fact]
    public void TruncatedAndGarbledFiles_OnlyEverFailWithBundleException()
    {
        byte[] original = (TestElf.Executable("libone.so.1", "libtwo.so.2") with { RunPath = "$ORIGIN", Soname = "libexe.so" }).Build();
        string path = Path.Join(_dir, "garbled");
        var random = new Random(20240601);
        IEnumerable<byte[]> variants = Enumerable.Range(0, original.Length).Select(n => original[..n])
            .Concat(Enumerable.Range(0, 3000).Select(_ =>
            {
                byte[] copy = (byte[])original.Clone();
                copy[random.Next(copy.Length)] = (byte)random.Next(256);
                // Also clobber a whole 8-byte field now and then, to reach huge offsets and sizes.
                if (random.Next(4) == 0)
                    BinaryPrimitives.WriteUInt64LittleEndian(copy.AsSpan(random.Next(copy.Length / 8) * 8), (ulong)random.NextInt64());
                return copy;
            }));

        foreach (byte[] variant in variants)
        {
            File.WriteAllBytes(path, variant);
            try
            {
                ElfFile.Read(path);
            }
            catch (BundleException e)
            {
                e.Message.ShouldStartWith(path);
            }
        }
    }

    private static void ShouldFail(string path, string expected)
    {
        var e = Should.Throw<BundleException>(() => ElfFile.Read(path));
        e.Message.ShouldStartWith(path);
        e.Message.ShouldContain(expected);
    }

    private static bool StartsWithElfMagic(string path)
    {
        Span<byte> magic = stackalloc byte[4];
        using FileStream stream = File.OpenRead(path);
        return stream.Read(magic) == 4 && magic.SequenceEqual("\u007fELF"u8);
    }
}
