using AutoReview.TestInfrastructure;
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using AutoReview.Sandbox.Native;
using Shouldly;
using Xunit;

namespace AutoReview.Sandbox.Tests.Native;

/// <summary>
/// The machine code run between clone and execve is embedded as bytes; these tests reassemble its source
/// with binutils so the bytes cannot drift from the reviewed assembly, and check it stays self-contained
/// (no relocations, no calls) since it is copied to an anonymous RX page and runs without libc.
/// </summary>
public sealed partial class TrampolineSourceTests
{
    private const string SourcePath = "src/Sandbox/Native/spawn-x86_64.S";
    private const string Regenerate =
        "as --64 -o spawn.o src/Sandbox/Native/spawn-x86_64.S && objcopy -O binary -j .text spawn.o spawn.bin && xxd -i -c 12 spawn.bin";

    [SkippableFact]
    public void EmbeddedBytes_MatchAssemblySource()
    {
        using var work = new TempDir();
        string obj = Assemble(work);
        string bin = Path.Combine(work.Path, "spawn.bin");
        Tools.Run("objcopy", "-O", "binary", "-j", ".text", obj, bin);

        byte[] assembled = File.ReadAllBytes(bin);
        byte[] embedded = SpawnTrampolineCode.Bytes.ToArray();

        int firstDifference = Enumerable.Range(0, Math.Min(assembled.Length, embedded.Length))
            .FirstOrDefault(i => assembled[i] != embedded[i], -1);
        if (firstDifference < 0 && assembled.Length != embedded.Length)
            firstDifference = Math.Min(assembled.Length, embedded.Length);
        if (firstDifference >= 0)
        {
            throw new ShouldAssertException(
                $"SpawnTrampolineCode.Bytes ({embedded.Length} bytes) differs from {SourcePath} assembled ({assembled.Length} bytes) "
                + $"first at offset 0x{firstDifference:x} ({ByteAt(embedded, firstDifference)} embedded, {ByteAt(assembled, firstDifference)} assembled).\n"
                + $"Regenerate the C# array in src/Sandbox/Native/SpawnTrampolineCode.cs from the repository root:\n  {Regenerate}");
        }
    }

    [SkippableFact]
    public void Trampoline_HasNoRelocations_AndNoAbsoluteAddresses()
    {
        // The bytes are copied to wherever mmap puts them; nothing in them may need the linker to patch an address.
        using var work = new TempDir();
        string obj = Assemble(work);

        string relocations = Tools.Run("objdump", "-r", obj);
        relocations.ShouldNotContain("RELOCATION RECORDS", customMessage: relocations);

        // Only .text is extracted: data placed in another section would be silently lost.
        string headers = Tools.Run("objdump", "-h", obj);
        foreach (Match m in SectionRow().Matches(headers))
        {
            if (m.Groups["name"].Value != ".text" && !m.Groups["name"].Value.StartsWith(".note"))
                Convert.ToInt64(m.Groups["size"].Value, 16).ShouldBe(0, $"section {m.Groups["name"].Value} is not embedded:\n{headers}");
        }
    }

    [SkippableFact]
    public void Trampoline_OnlyUsesSyscallInstructions_NoCalls()
    {
        // After clone there is no libc and no runtime to call into; only syscall may leave the routine.
        using var work = new TempDir();
        string obj = Assemble(work);

        string disassembly = Tools.Run("objdump", "-d", "--no-show-raw-insn", obj);
        var instructions = disassembly.Split('\n').Where(l => InstructionLine().IsMatch(l)).ToList();

        instructions.ShouldNotBeEmpty(disassembly);
        instructions.ShouldNotContain(l => l.Contains("\tcall"), disassembly);
        instructions.ShouldNotContain(l => l.Contains("\tint ") || l.Contains("\tint3") || l.Contains("sysenter"), disassembly);
        instructions.Count(l => l.Contains("\tsyscall")).ShouldBeGreaterThan(0);
    }

    [Fact]
    public void SpawnBlockTable_InTheAssemblyComment_MatchesTheCSharpStruct()
    {
        // The header comment is what a reviewer of the assembly trusts; it must describe the struct the parent fills.
        string source = File.ReadAllText(Path.Combine(Tools.RepositoryRoot, SourcePath));
        string table = source[source.IndexOf("# struct spawn_block", StringComparison.Ordinal)..source.IndexOf("# struct op", StringComparison.Ordinal)];
        var rows = BlockTableRow().Matches(table).Select(m => (Offset: int.Parse(m.Groups["offset"].Value), Name: m.Groups["name"].Value)).ToList();

        rows.Count.ShouldBe(typeof(SpawnBlock).GetFields().Length);
        foreach ((int offset, string name) in rows)
        {
            string field = string.Concat(name.Split('_').Select(w => char.ToUpperInvariant(w[0]) + w[1..]));
            Marshal.OffsetOf<SpawnBlock>(field).ToInt32().ShouldBe(offset, $"{name} in {SourcePath}");
        }
    }

    [Fact]
    public void AssemblyCode_AddressesOnlyDocumentedBlockAndOpFields()
    {
        // Every [rbx + N] is a spawn_block field (8-byte slots 0..72), every [r12 + N] an op slot (0..56).
        string source = File.ReadAllText(Path.Combine(Tools.RepositoryRoot, SourcePath));
        string code = string.Join('\n', source.Split('\n').Select(l => l.Split('#')[0]));
        var blockOffsets = Displacement("rbx").Matches(code).Select(m => int.Parse(m.Groups["n"].Value)).ToList();
        var opOffsets = Displacement("r12").Matches(code).Select(m => int.Parse(m.Groups["n"].Value)).ToList();

        blockOffsets.ShouldNotBeEmpty();
        blockOffsets.ShouldAllBe(n => n % 8 == 0 && n >= 0 && n < 80);
        opOffsets.ShouldNotBeEmpty();
        opOffsets.ShouldAllBe(n => n % 8 == 0 && n >= 0 && n < 64);
        code.ShouldContain("add r12, 64");
        code.ShouldContain("cmp rax, 0x7fff0001");
        code.ShouldContain($"test qword ptr [r12 + 56], {(long)OpFlags.IgnoreError}");
        code.ShouldContain($"test qword ptr [r12 + 56], {(long)OpFlags.SaveResult}");
        code.ShouldContain($"test qword ptr [r12 + 56], {(long)OpFlags.Arg0FromSaved}");
    }

    private static Regex Displacement(string register) => new($@"\[{register} \+ (?<n>\d+)\]");

    [GeneratedRegex(@"^#\s+(?<offset>\d+)\s+(?<name>[a-z_]+)\s", RegexOptions.Multiline)]
    private static partial Regex BlockTableRow();

    [GeneratedRegex(@"^\s*\d+\s+(?<name>\.\S+)\s+(?<size>[0-9a-f]{8,16})\s", RegexOptions.Multiline)]
    private static partial Regex SectionRow();

    [GeneratedRegex(@"^\s+[0-9a-f]+:\t")]
    private static partial Regex InstructionLine();

    private static string ByteAt(byte[] bytes, int i) => i < bytes.Length ? $"0x{bytes[i]:x2}" : "end";

    /// <summary>Assembles the source into the temp dir, or skips when binutils is missing.</summary>
    private static string Assemble(TempDir work)
    {
        Skip.If(Tools.FindOnPath("as") is null, "binutils `as` not installed: apt-get install binutils");
        Skip.If(Tools.FindOnPath("objcopy") is null || Tools.FindOnPath("objdump") is null, "binutils objcopy/objdump not installed: apt-get install binutils");
        string obj = Path.Combine(work.Path, "spawn.o");
        Tools.Run("as", "--64", "-o", obj, Path.Combine(Tools.RepositoryRoot, SourcePath));
        return obj;
    }

    private sealed class TempDir : IDisposable
    {
        public string Path { get; } = Directory.CreateTempSubdirectory("spawn-asm-").FullName;

        public void Dispose() => Directory.Delete(Path, recursive: true);
    }
}
