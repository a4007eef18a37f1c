using System.Formats.Tar;
using System.IO.Compression;
using AutoReview.Bundle.Layer;
using Tmds.Linux;

namespace AutoReview.Bundle.Tests.Layer;

/// <summary>A scratch directory that is deleted afterwards, even when the test left read-only directories in it.</summary>
internal sealed class ScratchDirectory : IDisposable
{
    public ScratchDirectory()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"layer-test-{Guid.NewGuid():N}");
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    /// <summary>A new empty directory inside the scratch directory.</summary>
    public string NewDirectory(string name)
    {
        string path = System.IO.Path.Combine(Path, name);
        Directory.CreateDirectory(path);
        return path;
    }

    public void Dispose()
    {
        LayerExtractor.MakeWritable(Path);
        Directory.Delete(Path, recursive: true);
    }
}

/// <summary>Builds tar+gzip archives entry by entry with System.Formats.Tar, hostile ones included.</summary>
internal static class Archive
{
    public static byte[] Gzip(params TarEntry[] entries) => GzipTar(Tar(entries));

    public static byte[] Tar(params TarEntry[] entries)
    {
        var tar = new MemoryStream();
        using (var writer = new TarWriter(tar, TarEntryFormat.Gnu, leaveOpen: true))
        {
            foreach (TarEntry entry in entries)
                writer.WriteEntry(entry);
        }
        return tar.ToArray();
    }

    public static byte[] GzipTar(byte[] tar)
    {
        var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Optimal, leaveOpen: true))
            gzip.Write(tar);
        return output.ToArray();
    }

    public static byte[] Gunzip(byte[] gzip)
    {
        var output = new MemoryStream();
        using (var stream = new GZipStream(new MemoryStream(gzip), CompressionMode.Decompress))
            stream.CopyTo(output);
        return output.ToArray();
    }

    public static List<GnuTarEntry> ReadEntries(byte[] gzip)
    {
        var result = new List<GnuTarEntry>();
        using var reader = new TarReader(new MemoryStream(Gunzip(gzip)));
        while (reader.GetNextEntry(copyData: true) is { } entry)
            result.Add((GnuTarEntry)entry);
        return result;
    }

    public static GnuTarEntry Dir(string name, int mode = 0x1ed) => new(TarEntryType.Directory, name) { Mode = (UnixFileMode)mode };

    public static GnuTarEntry File(string name, string content = "data", int mode = 0x1a4) =>
        new(TarEntryType.RegularFile, name) { Mode = (UnixFileMode)mode, DataStream = new MemoryStream(System.Text.Encoding.UTF8.GetBytes(content)) };

    public static GnuTarEntry Symlink(string name, string target) =>
        new(TarEntryType.SymbolicLink, name) { Mode = (UnixFileMode)0x1ff, LinkName = target };

    public static GnuTarEntry Hardlink(string name, string target, int mode = 0x1a4) =>
        new(TarEntryType.HardLink, name) { Mode = (UnixFileMode)mode, LinkName = target };
}

/// <summary>lstat from the test side, independent of the code under test.</summary>
internal static unsafe class Lstat
{
    public static (ulong Inode, ulong Links, int Mode) Of(string path)
    {
        stat st;
        byte[] z = System.Text.Encoding.UTF8.GetBytes(path + "\0");
        fixed (byte* p = z)
        {
            if (LibC.lstat(p, &st) != 0)
                throw new IOException($"lstat {path}: errno {System.Runtime.InteropServices.Marshal.GetLastPInvokeError()}");
        }
        return (st.st_ino, st.st_nlink, (ushort)st.st_mode);
    }

    public static int PermissionBits(string path) => Of(path).Mode & 0xFFF;
}
