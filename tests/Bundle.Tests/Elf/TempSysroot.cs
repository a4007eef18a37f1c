namespace AutoReview.Bundle.Tests.Elf;

/// <summary>A throwaway sysroot directory; paths given to it are rootfs-absolute ("/usr/lib/...").</summary>
internal sealed class TempSysroot : IDisposable
{
    public string Root { get; } = Directory.CreateTempSubdirectory("sysroot-").FullName;

    public void Dispose() => Directory.Delete(Root, recursive: true);

    public string Host(string rootfsPath) => Root + rootfsPath;

    public TempSysroot Elf(string rootfsPath, TestElf elf)
    {
        elf.WriteTo(Host(rootfsPath));
        return this;
    }

    public TempSysroot File(string rootfsPath, string content) => Bytes(rootfsPath, System.Text.Encoding.UTF8.GetBytes(content));

    public TempSysroot Bytes(string rootfsPath, byte[] content)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Host(rootfsPath))!);
        System.IO.File.WriteAllBytes(Host(rootfsPath), content);
        return this;
    }

    public TempSysroot Symlink(string rootfsPath, string target)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Host(rootfsPath))!);
        System.IO.File.CreateSymbolicLink(Host(rootfsPath), target);
        return this;
    }

    public TempSysroot CopyFromHost(string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Host(path))!);
        System.IO.File.Copy(path, Host(path));
        return this;
    }

    /// <summary>An interpreter and a libc, as every dynamically linked program needs them.</summary>
    public TempSysroot WithGlibc() =>
        Elf("/lib64/ld-linux-x86-64.so.2", TestElf.Library("ld-linux-x86-64.so.2"))
            .Elf("/usr/lib/x86_64-linux-gnu/libc.so.6", TestElf.Library("libc.so.6", "ld-linux-x86-64.so.2"));
}
