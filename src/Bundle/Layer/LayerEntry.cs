using System.Text;

namespace AutoReview.Bundle.Layer;

public enum EntryKind { Directory, File, Symlink, Hardlink }

/// <summary>
/// One entry of the rootfs layer.
/// <paramref name="Path"/> is relative to the rootfs root, with no leading '/' and no '.', '..' or empty parts
/// (e.g. "usr/bin/git"). <paramref name="Mode"/> holds permission bits only (0-0777).
/// A <see cref="EntryKind.File"/> takes its bytes from exactly one of <paramref name="SourcePath"/> (a host file,
/// copied; a host symlink is followed) or <paramref name="Content"/>.
/// <paramref name="LinkTarget"/> is a symlink's target, or for a hardlink the rootfs-relative path of the file entry
/// it shares an inode with.
/// </summary>
public sealed record LayerEntry(
    string Path,
    EntryKind Kind,
    int Mode,
    string? SourcePath = null,
    byte[]? Content = null,
    string? LinkTarget = null)
{
    /// <summary>Linux reports 0777 for every symlink and ignores any other value.</summary>
    public const int SymlinkMode = 0x1FF; // 0777

    /// <summary>Throws <see cref="BundleException"/> naming the entry and the field if the entry is malformed.</summary>
    public void Validate()
    {
        if (LayerPaths.PathProblem(Path) is { } pathProblem)
            throw new BundleException($"layer entry '{Path}': path {pathProblem}");
        if (LayerPaths.ModeProblem(Mode) is { } modeProblem)
            throw new BundleException($"{Path}: mode {modeProblem}");

        switch (Kind)
        {
            case EntryKind.Directory:
                RequireAbsent(SourcePath, nameof(SourcePath));
                RequireAbsent(Content, nameof(Content));
                RequireAbsent(LinkTarget, nameof(LinkTarget));
                break;
            case EntryKind.File:
                if ((SourcePath is null) == (Content is null))
                    throw new BundleException($"{Path}: a file entry needs exactly one of SourcePath and Content, found {(SourcePath is null ? "neither" : "both")}");
                RequireAbsent(LinkTarget, nameof(LinkTarget));
                break;
            case EntryKind.Symlink:
                RequireAbsent(SourcePath, nameof(SourcePath));
                RequireAbsent(Content, nameof(Content));
                if (LinkTarget is null)
                    throw new BundleException($"{Path}: a symlink entry needs a LinkTarget");
                if (LayerPaths.SymlinkTargetProblem(Path, LinkTarget) is { } targetProblem)
                    throw new BundleException($"{Path}: symlink target '{LinkTarget}' {targetProblem}");
                if (Mode != SymlinkMode)
                    throw new BundleException($"{Path}: symlink mode is {LayerPaths.Octal(Mode)}, expected 0777 (what Linux gives every symlink)");
                break;
            case EntryKind.Hardlink:
                RequireAbsent(SourcePath, nameof(SourcePath));
                RequireAbsent(Content, nameof(Content));
                if (LinkTarget is null)
                    throw new BundleException($"{Path}: a hardlink entry needs a LinkTarget (the path of the file entry it links to)");
                if (LayerPaths.PathProblem(LinkTarget) is { } linkProblem)
                    throw new BundleException($"{Path}: hardlink target '{LinkTarget}' {linkProblem}");
                if (LinkTarget == Path)
                    throw new BundleException($"{Path}: hardlink to itself");
                break;
            default:
                throw new BundleException($"{Path}: unknown entry kind {(int)Kind}");
        }
    }

    private void RequireAbsent(object? value, string field)
    {
        if (value is not null)
            throw new BundleException($"{Path}: a {Kind.ToString().ToLowerInvariant()} entry must not set {field}");
    }
}

/// <summary>
/// Path, mode and symlink-target rules shared by the writer (so it never produces a layer the extractor refuses)
/// and the extractor (which must not trust the layer). Each check returns null, or what is wrong.
/// </summary>
internal static class LayerPaths
{
    /// <summary>The longest file name Linux accepts (NAME_MAX), in bytes.</summary>
    private const int NameMax = 255;

    private const int PermissionBits = 0x1FF;    // 0777
    private const int SpecialBits = 0xE00;       // 07000: setuid, setgid, sticky

    public static string? PathProblem(string path)
    {
        if (path.Length == 0) return "is empty";
        if (path[0] == '/') return "is absolute (expected a path relative to the rootfs root)";
        if (path.Contains('\0')) return "contains a NUL byte";
        foreach (string part in path.Split('/'))
        {
            if (part.Length == 0) return "has an empty component (a trailing '/' or '//')";
            if (part is "." or "..") return $"has a '{part}' component (expected a normalized path inside the rootfs)";
            if (Encoding.UTF8.GetByteCount(part) > NameMax) return $"has a component longer than {NameMax} bytes";
        }
        return null;
    }

    public static string? ModeProblem(int mode)
    {
        if ((mode & ~(PermissionBits | SpecialBits)) != 0)
            return $"{Octal(mode)} is not a permission mode (expected 0 to 0777)";
        if ((mode & SpecialBits) != 0)
            return $"{Octal(mode)} has setuid, setgid or sticky bits (the rootfs must not carry privilege bits)";
        return null;
    }

    /// <summary>
    /// A symlink target must be relative and, resolved lexically from the link's directory, stay inside the root.
    /// This is defense in depth, not the guarantee: a chain of symlinks can still resolve above the root when the
    /// kernel follows them (a/l1 -> "..", l2 -> "a/l1/.."). What keeps extraction safe is that the extractor never
    /// follows a symlink; at run time the rootfs is the sandbox's '/', where ".." of the root is the root.
    /// </summary>
    public static string? SymlinkTargetProblem(string linkPath, string target)
    {
        if (target.Length == 0) return "is empty";
        if (target[0] == '/') return "is absolute (expected a relative target inside the rootfs)";
        if (target.Contains('\0')) return "contains a NUL byte";

        int lastSlash = linkPath.LastIndexOf('/');
        int depth = lastSlash < 0 ? 0 : linkPath[..lastSlash].Split('/').Length;
        foreach (string part in target.Split('/'))
        {
            if (part == "..")
            {
                if (depth == 0) return "climbs above the rootfs root";
                depth--;
            }
            else if (part is not ("" or "."))
            {
                depth++;
            }
        }
        return null;
    }

    /// <summary>The parent directory of a valid layer path, or "" for a top-level entry.</summary>
    public static string Parent(string path)
    {
        int slash = path.LastIndexOf('/');
        return slash < 0 ? "" : path[..slash];
    }

    public static string Octal(int mode) => "0" + Convert.ToString(mode, 8);
}
