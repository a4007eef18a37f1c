using AutoReview.Bundle.Elf;
using Shouldly;
using Xunit;

namespace AutoReview.Bundle.Tests.Elf;

public sealed class LdSoConfTests : IDisposable
{
    private readonly TempSysroot _root = new();

    public void Dispose() => _root.Dispose();

    private IReadOnlyList<string> Directories() => LdSoConf.Directories(_root.Root);

    [Fact]
    public void MainFileAndGlobbedIncludes_InLdconfigOrder()
    {
        _root.File("/etc/ld.so.conf", """
            # a comment line

            /opt/first
            include conf.d/*.conf
               hwcap 0 nosegneg
            HWCAP 1 tls
            /opt/last/=libc6   # old ldconfig type syntax, trailing comment and slash
            ///
            """)
            .File("/etc/conf.d/b.conf", "/opt/b\n")
            .File("/etc/conf.d/a.conf", "/opt/a\t\n/opt/first\n")
            .File("/etc/conf.d/.hidden.conf", "/opt/hidden\n")
            .File("/etc/conf.d/c.txt", "/opt/not-conf\n");

        // Includes are expanded in place, sorted bytewise; dot files need a dot in the pattern; duplicates go;
        // a bare "/" is nothing once ldconfig strips trailing slashes.
        Directories().ShouldBe(["/opt/first", "/opt/a", "/opt/b", "/opt/last"]);
    }

    [Fact]
    public void MissingConfiguration_GivesNoDirectories() => Directories().ShouldBeEmpty();

    [Fact]
    public void IncludeWithSeveralPatterns_AndAMissingOne()
    {
        _root.File("/etc/ld.so.conf", "include /etc/one.conf\t/etc/absent/*.conf /etc/two.conf\n")
            .File("/etc/one.conf", "/opt/one\n")
            .File("/etc/two.conf", "/opt/two\n");

        Directories().ShouldBe(["/opt/one", "/opt/two"]);
    }

    [Fact]
    public void AbsoluteSymlinkToAnIncludedDirectory_StaysInsideTheSysroot()
    {
        _root.File("/etc/ld.so.conf", "include /etc/ld.so.conf.d/*.conf\n")
            .Symlink("/etc/ld.so.conf.d", "/usr/share/ld-conf")
            .File("/usr/share/ld-conf/x.conf", "/opt/from-sysroot\n");

        Directories().ShouldBe(["/opt/from-sysroot"]);
    }

    [Fact]
    public void IncludeCycle_IsAnError()
    {
        _root.File("/etc/ld.so.conf", "include /etc/loop.conf\n").File("/etc/loop.conf", "/opt/x\ninclude /etc/ld.so.conf\n");

        var e = Should.Throw<BundleException>(Directories);
        e.Message.ShouldContain("includes itself");
        e.Message.ShouldContain("/etc/loop.conf");
    }

    /// <summary>ld.so would look such a directory up from the working directory of whatever process loads a library.</summary>
    [Fact]
    public void RelativeLibraryDirectory_IsAnError_NamingFileAndLine()
    {
        _root.File("/etc/ld.so.conf", "/opt/ok\nlib/relative\n");

        var e = Should.Throw<BundleException>(Directories);
        e.Message.ShouldContain("/etc/ld.so.conf:2");
        e.Message.ShouldContain("`lib/relative` is not absolute");
    }

    [Theory]
    [InlineData("*.conf", "libc.conf", true)]
    [InlineData("*.conf", "libc.conf.bak", false)]
    [InlineData("*", "", true)]
    [InlineData("a*b*c", "aXbYbZc", true)]
    [InlineData("a*b*c", "aXbYbZ", false)]
    [InlineData("lib?.conf", "libc.conf", true)]
    [InlineData("lib?.conf", "lib.conf", false)]
    [InlineData("[a-c]x", "bx", true)]
    [InlineData("[a-c]x", "dx", false)]
    [InlineData("[!a-c]x", "dx", true)]
    [InlineData("[^a-c]x", "ax", false)]
    [InlineData("[]]", "]", true)]
    [InlineData("[abc", "[abc", true)]
    [InlineData(@"\*", "*", true)]
    [InlineData(@"\*", "x", false)]
    public void GlobMatch_FollowsFnmatch(string pattern, string name, bool matches) =>
        LdSoConf.GlobMatch(pattern, name).ShouldBe(matches);
}
