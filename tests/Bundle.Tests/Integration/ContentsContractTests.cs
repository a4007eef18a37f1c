using AutoReview.TestInfrastructure;
using Shouldly;
using Xunit;

namespace AutoReview.Bundle.Tests.Integration;

/// <summary>
/// What the embedded rootfs holds, checked against the allowlist in the repository (bundle-contents.txt beside
/// this file). Adding something is a decision: put it in src/Bundle/rootfs-spec.json and in the allowlist.
/// </summary>
[Trait("Category", "Bundle")]
public sealed class ContentsContractTests
{
    private const string HowToAdd =
        "To add something intentionally, list it in src/Bundle/rootfs-spec.json and in tests/Bundle.Tests/Integration/bundle-contents.txt, " +
        "and say why in the spec's `why`.";

    private static readonly string[] Forbidden =
    [
        "sh", "bash", "dash", "ash", "zsh", "ksh", "busybox", "toybox", "coreutils", "ls", "cat", "cp", "mv", "rm", "env", "chmod",
        "gdb", "strace", "ltrace", "perf", "valgrind", "apt", "apt-get", "dpkg", "rpm", "su", "sudo", "mount", "perl", "python3",
        "cc", "gcc", "ld", "curl", "wget", "nc", "ssh",
    ];

    [Fact]
    public void FileList_IsExactlyTheAllowlist()
    {
        string allowlistPath = Path.Combine(Tools.RepositoryRoot, "tests", "Bundle.Tests", "Integration", "bundle-contents.txt");
        var allowed = File.ReadAllLines(allowlistPath).Where(l => l.Length > 0 && !l.StartsWith('#')).ToHashSet(StringComparer.Ordinal);
        var actual = EmbeddedInfo.Files.Where(f => f.Kind != "directory").Select(f => f.Path).ToHashSet(StringComparer.Ordinal);

        actual.Except(allowed).Order().ShouldBeEmpty($"in the bundle but not in the allowlist. {HowToAdd}");
        allowed.Except(actual).Order().ShouldBeEmpty("in the allowlist but missing from the bundle: the closure changed, or the spec lost an entry");
    }

    [Fact]
    public void NoShell_NoCoreutils_NoDebuggers_NoPackageManagers()
    {
        var offenders = EmbeddedInfo.Files.Where(f => Forbidden.Contains(Path.GetFileName(f.Path))).Select(f => f.Path).ToList();
        offenders.ShouldBeEmpty($"the rootfs must not carry a shell, coreutils, a debugger or a package manager. {HowToAdd}");
    }

    [Fact]
    public void NoSetuidOrSetgidFiles_NoDeviceNodes_OnlyFilesDirectoriesAndLinks()
    {
        EmbeddedInfo.Files.Where(f => (Convert.ToInt32(f.Mode, 8) & 0xe00) != 0).ShouldBeEmpty("setuid, setgid and sticky bits are not allowed");
        EmbeddedInfo.Files.Select(f => f.Kind).Distinct().ShouldBeSubsetOf(["directory", "file", "hardlink", "symlink"]);
    }

    [Fact]
    public void GitCoreEntries_AreHardlinks_NotCopies()
    {
        var files = EmbeddedInfo.Files.ToDictionary(f => f.Path);
        files["/usr/lib/git-core/git"].Kind.ShouldBe("hardlink");
        files["/usr/lib/git-core/git-remote-https"].Kind.ShouldBe("hardlink");
    }

    [Fact]
    public void TheBoundExecutablesLibraries_AreAllInTheBundle()
    {
        // auto-review is bound in at launch, not carried; everything it links against must be.
        var needed = AutoReview.Bundle.Elf.ElfFile.Read(AutoReview.TestInfrastructure.AutoReviewBinary.Path).Needed;
        var sonames = EmbeddedInfo.Files.Select(f => Path.GetFileName(f.Path)).ToHashSet();
        needed.Where(n => !sonames.Contains(n)).ShouldBeEmpty();
    }
}
