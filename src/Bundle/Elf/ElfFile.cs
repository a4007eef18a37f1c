using System.Buffers.Binary;
using System.Text;
using Microsoft.Win32.SafeHandles;

namespace AutoReview.Bundle.Elf;

/// <summary>
/// What the bundler needs from an x86-64 ELF executable or shared object: its program interpreter and the
/// dependency information of its dynamic section. Every offset and size read from the file is checked against
/// the file before it is used, so a truncated or garbled file gives a <see cref="BundleException"/> that names
/// the file and what was wrong, never an out-of-range read.
/// </summary>
public sealed record ElfFile
{
    /// <summary>The path the file was read from (on the build host).</summary>
    public required string Path { get; init; }

    /// <summary>PT_INTERP: the program interpreter the kernel maps to run this file; null for shared libraries and static executables.</summary>
    public string? Interpreter { get; init; }

    /// <summary>DT_NEEDED, in file order (the order ld.so loads them in).</summary>
    public IReadOnlyList<string> Needed { get; init; } = [];

    public string? Soname { get; init; }

    /// <summary>DT_RUNPATH, unexpanded (it may hold $ORIGIN and other tokens).</summary>
    public string? RunPath { get; init; }

    /// <summary>DT_RPATH, unexpanded, as written in the file; ld.so ignores it when DT_RUNPATH is present.</summary>
    public string? RPath { get; init; }

    /// <summary>DF_1_NODEFLIB (linked with -z nodefaultlib): ld.so must not look in the default directories for this object's dependencies.</summary>
    public bool NoDefaultLibraries { get; init; }

    /// <summary>Reads an x86-64 ELF executable or shared object; anything else is a <see cref="BundleException"/>.</summary>
    public static ElfFile Read(string path)
    {
        using var reader = new Reader(path);
        return reader.ForeignArchitecture() is { } found
            ? throw new BundleException($"{path}: not an x86-64 ELF file ({found})")
            : reader.Parse();
    }

    /// <summary>
    /// Reads a library candidate the way ld.so's open_verify judges it: a well-formed ELF file of another class or
    /// machine (a 32-bit library in a shared directory) is passed over, so this returns null and the search goes on;
    /// any other defect (not ELF at all, wrong byte order, truncated) stops ld.so with an error, and throws here.
    /// </summary>
    internal static ElfFile? ReadCandidate(string path)
    {
        using var reader = new Reader(path);
        return reader.ForeignArchitecture() is null ? reader.Parse() : null;
    }

    private const int HeaderSize = 64;
    private const int ProgramHeaderSize = 56;
    private const int DynamicEntrySize = 16;

    private const byte ElfClass64 = 2;
    private const byte ElfData2Lsb = 1;
    private const byte EvCurrent = 1;
    private const ushort EmX86_64 = 62;
    private const ushort EtExec = 2;
    private const ushort EtDyn = 3;

    private const uint PtLoad = 1;
    private const uint PtDynamic = 2;
    private const uint PtInterp = 3;

    private const long DtNull = 0;
    private const long DtNeeded = 1;
    private const long DtStrtab = 5;
    private const long DtStrsz = 10;
    private const long DtSoname = 14;
    private const long DtRpath = 15;
    private const long DtRunpath = 29;
    private const long DtFlags1 = 0x6ffffffb;
    private const ulong Df1NoDefLib = 0x800;

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private readonly record struct Segment(ulong Offset, ulong VirtualAddress, ulong FileSize);

    private sealed class Reader : IDisposable
    {
        private readonly string _path;
        private readonly SafeFileHandle _handle;
        private readonly ulong _length;

        public Reader(string path)
        {
            _path = path;
            try
            {
                _handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read);
                _length = (ulong)RandomAccess.GetLength(_handle);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new BundleException($"{path}: cannot read: {e.Message}", e);
            }
        }

        public void Dispose() => _handle.Dispose();

        /// <summary>Null for an x86-64 ELF file; for a well-formed ELF file of another class or machine, what was found.</summary>
        public string? ForeignArchitecture()
        {
            byte[] ident = ReadAt(0, Math.Min(_length, 16), "eident");
            if (ident.Length >= 4 && !ident.AsSpan(0, 4).SequenceEqual("\u007fELF"u8))
                throw new BundleException($"{_path}: not an x86-64 ELF file (no ELF magic number)");
            if (ident.Length < 16)
                throw new BundleException($"{_path}: not an x86-64 ELF file (only {_length} bytes)");
            if (ident[4] != ElfClass64)
                return ident[4] == 1 ? "ELFCLASS32, expected ELFCLASS64" : $"EI_CLASS {ident[4]}, expected ELFCLASS64";
            if (ident[5] != ElfData2Lsb)
                throw new BundleException($"{_path}: not an x86-64 ELF file ({(ident[5] == 2 ? "big-endian" : $"EI_DATA {ident[5]}")}, expected little-endian)");
            if (ident[6] != EvCurrent)
                throw new BundleException($"{_path}: not an x86-64 ELF file (EI_VERSION {ident[6]}, expected 1)");
            if (_length < HeaderSize)
                throw new BundleException($"{_path}: truncated ELF header ({_length} of {HeaderSize} bytes)");
            ushort machine = BinaryPrimitives.ReadUInt16LittleEndian(ReadAt(18, 2, "e_machine"));
            return machine == EmX86_64 ? null : $"e_machine {machine}{MachineName(machine)}, expected 62 (x86-64)";
        }

        public ElfFile Parse()
        {
            ReadOnlySpan<byte> header = ReadAt(0, HeaderSize, "ELF header");
            ushort type = BinaryPrimitives.ReadUInt16LittleEndian(header[16..]);
            if (type is not (EtExec or EtDyn))
                throw new BundleException($"{_path}: ELF e_type {type} is neither an executable (2) nor a shared object (3)");
            uint version = BinaryPrimitives.ReadUInt32LittleEndian(header[20..]);
            if (version != EvCurrent)
                throw new BundleException($"{_path}: ELF e_version {version}, expected 1");
            ulong phoff = BinaryPrimitives.ReadUInt64LittleEndian(header[32..]);
            ushort phentsize = BinaryPrimitives.ReadUInt16LittleEndian(header[54..]);
            ushort phnum = BinaryPrimitives.ReadUInt16LittleEndian(header[56..]);
            // ld.so refuses any other entry size, and reading with a different stride would misread every field.
            if (phentsize != ProgramHeaderSize)
                throw new BundleException($"{_path}: e_phentsize {phentsize}, expected {ProgramHeaderSize}");

            byte[] table = ReadAt(phoff, (ulong)phnum * ProgramHeaderSize, "program headers");
            var loads = new List<Segment>();
            Segment? interp = null, dynamic = null;
            for (int i = 0; i < phnum; i++)
            {
                ReadOnlySpan<byte> ph = table.AsSpan(i * ProgramHeaderSize, ProgramHeaderSize);
                var segment = new Segment(
                    Offset: BinaryPrimitives.ReadUInt64LittleEndian(ph[8..]),
                    VirtualAddress: BinaryPrimitives.ReadUInt64LittleEndian(ph[16..]),
                    FileSize: BinaryPrimitives.ReadUInt64LittleEndian(ph[32..]));
                switch (BinaryPrimitives.ReadUInt32LittleEndian(ph))
                {
                    case PtLoad:
                        loads.Add(segment);
                        break;
                    // The kernel and ld.so would each pick one of two; which one is not something to guess at.
                    case PtInterp when interp is not null:
                        throw new BundleException($"{_path}: more than one PT_INTERP program header");
                    case PtInterp:
                        interp = segment;
                        break;
                    case PtDynamic when dynamic is not null:
                        throw new BundleException($"{_path}: more than one PT_DYNAMIC program header");
                    case PtDynamic:
                        dynamic = segment;
                        break;
                }
            }

            string? interpreter = interp is { } interpSegment ? ReadInterpreter(interpSegment) : null;
            return dynamic is { } dynamicSegment
                ? ParseDynamic(dynamicSegment, loads, interpreter)
                : new ElfFile { Path = _path, Interpreter = interpreter }; // static: nothing to load
        }

        private string ReadInterpreter(Segment segment)
        {
            byte[] bytes = ReadAt(segment.Offset, segment.FileSize, "PT_INTERP");
            int end = Array.IndexOf(bytes, (byte)0);
            if (end <= 0)
                throw new BundleException($"{_path}: PT_INTERP is {(end == 0 ? "empty" : "not NUL-terminated")}");
            return Decode(bytes.AsSpan(0, end), "PT_INTERP");
        }

        private ElfFile ParseDynamic(Segment segment, List<Segment> loads, string? interpreter)
        {
            byte[] entries = ReadAt(segment.Offset, segment.FileSize, "PT_DYNAMIC");
            var needed = new List<ulong>();
            ulong? soname = null, rpath = null, runpath = null, strtab = null, strsz = null;
            ulong flags1 = 0;
            for (int at = 0; at + DynamicEntrySize <= entries.Length; at += DynamicEntrySize)
            {
                long tag = BinaryPrimitives.ReadInt64LittleEndian(entries.AsSpan(at));
                ulong value = BinaryPrimitives.ReadUInt64LittleEndian(entries.AsSpan(at + 8));
                if (tag == DtNull)
                    break;
                // A repeated scalar tag overwrites the earlier one, as in ld.so's elf_get_dynamic_info.
                switch (tag)
                {
                    case DtNeeded: needed.Add(value); break;
                    case DtSoname: soname = value; break;
                    case DtRpath: rpath = value; break;
                    case DtRunpath: runpath = value; break;
                    case DtStrtab: strtab = value; break;
                    case DtStrsz: strsz = value; break;
                    case DtFlags1: flags1 = value; break;
                }
            }

            byte[] strings = needed.Count > 0 || soname is not null || rpath is not null || runpath is not null
                ? ReadStringTable(strtab, strsz, loads)
                : [];
            var neededNames = new List<string>(needed.Count);
            foreach (ulong offset in needed)
            {
                string name = StringAt(strings, offset, "DT_NEEDED");
                neededNames.Add(name.Length > 0 ? name : throw new BundleException($"{_path}: empty DT_NEEDED entry"));
            }
            return new ElfFile
            {
                Path = _path,
                Interpreter = interpreter,
                Needed = neededNames,
                Soname = soname is { } s ? StringAt(strings, s, "DT_SONAME") : null,
                RPath = rpath is { } r ? StringAt(strings, r, "DT_RPATH") : null,
                RunPath = runpath is { } rp ? StringAt(strings, rp, "DT_RUNPATH") : null,
                NoDefaultLibraries = (flags1 & Df1NoDefLib) != 0,
            };
        }

        /// <summary>
        /// DT_STRTAB holds a virtual address, so it is mapped to a file offset through the PT_LOAD segment that
        /// contains it, and the whole table (DT_STRSZ bytes) must lie in that segment's file bytes.
        /// </summary>
        private byte[] ReadStringTable(ulong? strtab, ulong? strsz, List<Segment> loads)
        {
            if (strtab is not { } address || strsz is not { } size)
                throw new BundleException($"{_path}: the dynamic section names strings but has no {(strtab is null ? "DT_STRTAB" : "DT_STRSZ")}");
            foreach (Segment load in loads)
            {
                if (address < load.VirtualAddress || address - load.VirtualAddress >= load.FileSize)
                    continue;
                ulong inSegment = address - load.VirtualAddress;
                if (size > load.FileSize - inSegment)
                    throw new BundleException($"{_path}: DT_STRTAB 0x{address:x} + DT_STRSZ {size} runs past the end of its PT_LOAD segment");
                return ReadAt(load.Offset + inSegment, size, "DT_STRTAB");
            }
            throw new BundleException($"{_path}: DT_STRTAB 0x{address:x} is not inside any PT_LOAD segment");
        }

        private string StringAt(byte[] strings, ulong offset, string tag)
        {
            if (offset >= (ulong)strings.Length)
                throw new BundleException($"{_path}: {tag} string offset {offset} is outside the string table ({strings.Length} bytes)");
            int end = Array.IndexOf(strings, (byte)0, (int)offset);
            if (end < 0)
                throw new BundleException($"{_path}: {tag} string at offset {offset} is not NUL-terminated within the string table");
            return Decode(strings.AsSpan((int)offset, end - (int)offset), tag);
        }

        private string Decode(ReadOnlySpan<byte> bytes, string what)
        {
            try
            {
                return StrictUtf8.GetString(bytes);
            }
            catch (DecoderFallbackException e)
            {
                throw new BundleException($"{_path}: {what} is not valid UTF-8", e);
            }
        }

        private byte[] ReadAt(ulong offset, ulong count, string what)
        {
            // Checked as unsigned values from the file: offset + count could overflow, so compare against what is left.
            if (offset > _length || count > _length - offset)
                throw new BundleException($"{_path}: truncated or corrupt: {what} (offset {offset}, {count} bytes) runs past the end of the file ({_length} bytes)");
            if (count > (ulong)Array.MaxLength)
                throw new BundleException($"{_path}: corrupt: {what} claims {count} bytes");
            var buffer = new byte[count];
            for (int done = 0; done < buffer.Length;)
            {
                int read = RandomAccess.Read(_handle, buffer.AsSpan(done), (long)offset + done);
                if (read == 0)
                    throw new BundleException($"{_path}: the file shrank while it was being read");
                done += read;
            }
            return buffer;
        }

        private static string MachineName(ushort machine) => machine switch
        {
            3 => " (i386)",
            40 => " (ARM)",
            183 => " (AArch64)",
            243 => " (RISC-V)",
            _ => "",
        };
    }
}
