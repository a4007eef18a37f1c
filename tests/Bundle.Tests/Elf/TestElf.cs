using System.Buffers.Binary;
using System.Text;

namespace AutoReview.Bundle.Tests.Elf;

/// <summary>
/// Writes minimal ELF files with chosen dynamic sections, so that RUNPATH, RPATH, $ORIGIN and the like can be
/// tested in a temporary sysroot without a compiler. The files carry headers and a dynamic section, no code.
/// One test checks them with readelf, so the parser is not only ever judged by files this builder made.
/// </summary>
internal sealed record TestElf
{
    /// <summary>Where PT_LOAD maps the file. Not zero, so a parser that used DT_STRTAB as a file offset would fail.</summary>
    public const ulong BaseAddress = 0x200000;

    public string? Interpreter { get; init; }
    public IReadOnlyList<string> Needed { get; init; } = [];
    public string? Soname { get; init; }
    public string? RunPath { get; init; }
    public string? RPath { get; init; }
    public ulong Flags1 { get; init; }
    public ushort Machine { get; init; } = 62;
    public ushort Type { get; init; } = 3;
    /// <summary>False for a static executable: no PT_DYNAMIC at all.</summary>
    public bool Dynamic { get; init; } = true;
    /// <summary>Replaces the DT_STRTAB value, to point the string table somewhere it is not.</summary>
    public ulong? StrtabAddress { get; init; }

    public static TestElf Library(string soname, params string[] needed) => new() { Soname = soname, Needed = needed };

    public static TestElf Executable(params string[] needed) =>
        new() { Interpreter = "/lib64/ld-linux-x86-64.so.2", Needed = needed };

    public byte[] Build()
    {
        var strings = new MemoryStream();
        strings.WriteByte(0);
        ulong AddString(string s)
        {
            ulong offset = (ulong)strings.Length;
            strings.Write(Encoding.UTF8.GetBytes(s));
            strings.WriteByte(0);
            return offset;
        }

        var dynamic = new List<(long Tag, ulong Value)>();
        foreach (string name in Needed)
            dynamic.Add((1, AddString(name)));
        if (Soname is not null)
            dynamic.Add((14, AddString(Soname)));
        if (RPath is not null)
            dynamic.Add((15, AddString(RPath)));
        if (RunPath is not null)
            dynamic.Add((29, AddString(RunPath)));
        if (Flags1 != 0)
            dynamic.Add((0x6ffffffb, Flags1));

        int phnum = (Interpreter is null ? 0 : 1) + 1 + (Dynamic ? 1 : 0);
        int interpOffset = 64 + phnum * 56;
        byte[] interp = Interpreter is null ? [] : [.. Encoding.UTF8.GetBytes(Interpreter), 0];
        int strtabOffset = interpOffset + interp.Length;
        byte[] strtab = strings.ToArray();
        int dynamicOffset = Align8(strtabOffset + strtab.Length);
        dynamic.Add((5, StrtabAddress ?? BaseAddress + (ulong)strtabOffset));
        dynamic.Add((10, (ulong)strtab.Length));
        dynamic.Add((0, 0));
        int dynamicSize = Dynamic ? dynamic.Count * 16 : 0;
        var file = new byte[dynamicOffset + dynamicSize];

        Span<byte> h = file;
        "\u007fELF"u8.CopyTo(h);
        h[4] = 2; // ELFCLASS64
        h[5] = 1; // little-endian
        h[6] = 1; // EV_CURRENT
        BinaryPrimitives.WriteUInt16LittleEndian(h[16..], Type);
        BinaryPrimitives.WriteUInt16LittleEndian(h[18..], Machine);
        BinaryPrimitives.WriteUInt32LittleEndian(h[20..], 1);
        BinaryPrimitives.WriteUInt64LittleEndian(h[32..], 64); // e_phoff
        BinaryPrimitives.WriteUInt16LittleEndian(h[52..], 64); // e_ehsize
        BinaryPrimitives.WriteUInt16LittleEndian(h[54..], 56); // e_phentsize
        BinaryPrimitives.WriteUInt16LittleEndian(h[56..], (ushort)phnum);

        int ph = 64;
        if (Interpreter is not null)
        {
            ProgramHeader(file.AsSpan(ph), type: 3, flags: 4, (ulong)interpOffset, (ulong)interp.Length);
            ph += 56;
        }
        ProgramHeader(file.AsSpan(ph), type: 1, flags: 6, 0, (ulong)file.Length);
        ph += 56;
        if (Dynamic)
            ProgramHeader(file.AsSpan(ph), type: 2, flags: 6, (ulong)dynamicOffset, (ulong)dynamicSize);

        interp.CopyTo(file, interpOffset);
        strtab.CopyTo(file, strtabOffset);
        if (Dynamic)
        {
            for (int i = 0; i < dynamic.Count; i++)
            {
                BinaryPrimitives.WriteInt64LittleEndian(file.AsSpan(dynamicOffset + i * 16), dynamic[i].Tag);
                BinaryPrimitives.WriteUInt64LittleEndian(file.AsSpan(dynamicOffset + i * 16 + 8), dynamic[i].Value);
            }
        }
        return file;
    }

    public void WriteTo(string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, Build());
    }

    /// <summary>The 52-byte header of a 32-bit i386 shared object: what a multilib directory may hold.</summary>
    public static byte[] Elf32Header()
    {
        var h = new byte[52];
        "\u007fELF"u8.CopyTo(h);
        h[4] = 1; // ELFCLASS32
        h[5] = 1;
        h[6] = 1;
        BinaryPrimitives.WriteUInt16LittleEndian(h.AsSpan(16), 3); // ET_DYN
        BinaryPrimitives.WriteUInt16LittleEndian(h.AsSpan(18), 3); // EM_386
        BinaryPrimitives.WriteUInt32LittleEndian(h.AsSpan(20), 1);
        return h;
    }

    private static void ProgramHeader(Span<byte> ph, uint type, uint flags, ulong offset, ulong size)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(ph, type);
        BinaryPrimitives.WriteUInt32LittleEndian(ph[4..], flags);
        BinaryPrimitives.WriteUInt64LittleEndian(ph[8..], offset);
        BinaryPrimitives.WriteUInt64LittleEndian(ph[16..], BaseAddress + offset);
        BinaryPrimitives.WriteUInt64LittleEndian(ph[24..], BaseAddress + offset);
        BinaryPrimitives.WriteUInt64LittleEndian(ph[32..], size);
        BinaryPrimitives.WriteUInt64LittleEndian(ph[40..], size);
        BinaryPrimitives.WriteUInt64LittleEndian(ph[48..], 8);
    }

    private static int Align8(int n) => (n + 7) & ~7;
}
