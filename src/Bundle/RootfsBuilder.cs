using System.Security.Cryptography;
using AutoReview.Bundle.Elf;
using AutoReview.Bundle.Layer;

namespace AutoReview.Bundle;

/// <summary>
/// Turns the rootfs spec into layer entries, reading the executables, their shared-library closure (ELF parsed
/// in C#, no ldd), the dlopen'd libraries and the host files from <c>sysroot</c> (the build host's "/", or a Nix
/// store path). Nothing else goes in: no shell, no coreutils, no package manager.
/// </summary>
public static class RootfsBuilder
{
    private const int ExecutableMode = 0x1ed; // 0755
    private const int FileMode = 0x1a4;       // 0644

    public static IReadOnlyList<LayerEntry> BuildEntries(RootfsSpec spec, string sysroot = "/")
    {
        var entries = new Dictionary<string, LayerEntry>(StringComparer.Ordinal);
        void Add(LayerEntry entry)
        {
            if (!entries.TryAdd(entry.Path, entry))
                throw new BundleException($"rootfs spec: /{entry.Path} is listed twice");
            AddParents(entries, entry.Path);
        }

        foreach (string executable in spec.Executables)
            Add(new LayerEntry(Relative(executable), EntryKind.File, ExecutableMode, SourcePath: RealPath(sysroot, executable)));

        LibraryClosure closure = LibraryResolver.Resolve(spec.Executables, spec.DlopenLibraries.Select(l => l.Soname), sysroot);
        if (closure.Interpreter is { } interpreter)
            Add(new LayerEntry(Relative(interpreter), EntryKind.File, ExecutableMode, SourcePath: RealPath(sysroot, interpreter)));
        // The interpreter stays at its PT_INTERP path, which the kernel opens literally; the rest go by soname.
        foreach (ResolvedLibrary library in closure.Libraries.Where(l => l.FoundAt != closure.Interpreter))
        {
            // One regular file named by its soname, in the canonical directory (merged /usr): what ld.so opens.
            string path = $"{CanonicalDirectory(sysroot, Path.GetDirectoryName(library.FoundAt)!)}/{library.Soname}";
            if (!entries.ContainsKey(Relative(path)))
                Add(new LayerEntry(Relative(path), EntryKind.File, FileMode, SourcePath: HostPath(sysroot, library.RealPath)));
        }

        foreach (SpecLink link in spec.Links)
        {
            if (link.HardlinkTo is { } target)
                Add(new LayerEntry(Relative(link.Path), EntryKind.Hardlink, ExecutableMode, LinkTarget: Relative(target)));
            else if (link.SymlinkTo is { } symlink)
                Add(new LayerEntry(Relative(link.Path), EntryKind.Symlink, 0x1ff, LinkTarget: symlink));
            else
                throw new BundleException($"rootfs spec: links[{link.Path}] needs hardlinkTo or symlinkTo");
        }
        foreach (SpecHostFile file in spec.HostFiles)
            Add(new LayerEntry(Relative(file.Path), EntryKind.File, FileMode, SourcePath: RealPath(sysroot, file.From)));
        foreach (SpecGeneratedFile file in spec.GeneratedFiles)
            Add(new LayerEntry(Relative(file.Path), EntryKind.File, FileMode, Content: System.Text.Encoding.UTF8.GetBytes(file.Content)));
        foreach (SpecEmptyFile file in spec.EmptyFiles)
            Add(new LayerEntry(Relative(file.Path), EntryKind.File, ExecutableMode, Content: []));
        foreach (string directory in spec.Directories)
        {
            string relative = Relative(directory);
            if (!entries.ContainsKey(relative))
                Add(new LayerEntry(relative, EntryKind.Directory, ExecutableMode));
        }

        NormaliseHardlinkDirection(entries);
        foreach (LayerEntry entry in entries.Values)
        {
            entry.Validate();
            if (entry.Kind == EntryKind.Hardlink && !(entries.TryGetValue(entry.LinkTarget!, out LayerEntry? target) && target.Kind == EntryKind.File))
                throw new BundleException($"rootfs spec: hardlink /{entry.Path} points to /{entry.LinkTarget}, which is not a file in the rootfs");
        }
        return entries.Values.OrderBy(e => e.Path, StringComparer.Ordinal).ToList();
    }

    /// <summary>
    /// In a tar a hardlink must follow the file it links to, and entries are sorted by path, so the path that
    /// sorts first carries the data. The writer would swap a link that sorts first; doing it here keeps the
    /// manifest identical to the archive.
    /// </summary>
    private static void NormaliseHardlinkDirection(Dictionary<string, LayerEntry> entries)
    {
        foreach (LayerEntry link in entries.Values.Where(e => e.Kind == EntryKind.Hardlink).ToList())
        {
            if (string.CompareOrdinal(link.Path, link.LinkTarget) > 0 || !entries.TryGetValue(link.LinkTarget!, out LayerEntry? target))
                continue;
            entries[link.Path] = target with { Path = link.Path };
            entries[target.Path] = link with { Path = target.Path, LinkTarget = link.Path };
        }
    }

    /// <summary>The manifest's view of the entries: sizes and hashes as they will be in the layer.</summary>
    public static IReadOnlyList<ManifestFile> Describe(IReadOnlyList<LayerEntry> entries)
    {
        var byPath = entries.ToDictionary(e => e.Path, StringComparer.Ordinal);
        return entries.Select(e => e.Kind switch
        {
            EntryKind.File => Hashed(e, e.Content ?? File.ReadAllBytes(e.SourcePath!)),
            EntryKind.Hardlink => Hashed(e, byPath[e.LinkTarget!].Content ?? File.ReadAllBytes(byPath[e.LinkTarget!].SourcePath!)) with { LinkTarget = e.LinkTarget },
            _ => new ManifestFile(e.Path, e.Kind, e.Mode, 0, null, e.LinkTarget),
        }).ToList();
    }

    private static ManifestFile Hashed(LayerEntry entry, byte[] bytes) =>
        new(entry.Path, entry.Kind, entry.Mode, bytes.LongLength, Convert.ToHexStringLower(SHA256.HashData(bytes)), null);

    private static void AddParents(Dictionary<string, LayerEntry> entries, string path)
    {
        for (int slash = path.IndexOf('/'); slash > 0; slash = path.IndexOf('/', slash + 1))
        {
            string parent = path[..slash];
            if (!entries.TryGetValue(parent, out LayerEntry? existing))
                entries[parent] = new LayerEntry(parent, EntryKind.Directory, ExecutableMode);
            else if (existing.Kind != EntryKind.Directory)
                throw new BundleException($"rootfs spec: /{parent} is needed as a directory but is listed as a {existing.Kind}");
        }
    }

    private static string Relative(string rootfsPath) =>
        rootfsPath.StartsWith('/') && rootfsPath.Length > 1
            ? rootfsPath[1..]
            : throw new BundleException($"rootfs spec: `{rootfsPath}` must be an absolute path inside the rootfs");

    private static string HostPath(string sysroot, string rootfsPath) => SysrootPath.Host(sysroot, rootfsPath);

    /// <summary>
    /// The file behind a path, following symlinks inside the sysroot (as the library resolver does), so an
    /// absolute link in a Nix or chroot sysroot never escapes to the build host's files.
    /// </summary>
    private static string RealPath(string sysroot, string rootfsPath) =>
        HostPath(sysroot, SysrootPath.Resolve(sysroot, rootfsPath)
                          ?? throw new BundleException($"rootfs spec: {HostPath(sysroot, rootfsPath)} does not exist on the build host (install the package that provides it)"));

    /// <summary>/lib/x86_64-linux-gnu → /usr/lib/x86_64-linux-gnu on a merged-/usr host: one copy, one place.</summary>
    private static string CanonicalDirectory(string sysroot, string rootfsDirectory) =>
        SysrootPath.Resolve(sysroot, rootfsDirectory)
        ?? throw new BundleException($"rootfs spec: the library directory {rootfsDirectory} does not exist in {sysroot}");
}
