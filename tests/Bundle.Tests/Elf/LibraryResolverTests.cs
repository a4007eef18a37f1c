using AutoReview.Bundle.Elf;
using Shouldly;
using Xunit;
using Xunit.Abstractions;
using static AutoReview.Bundle.Elf.LibraryResolver;

namespace AutoReview.Bundle.Tests.Elf;

public sealed class LibraryResolverTests(ITestOutputHelper output) : IDisposable
{
    private const string Git = "/usr/bin/git";
    private const string GitRemoteHttp = "/usr/lib/git-core/git-remote-http";
    private const string HostInterpreter = "/lib64/ld-linux-x86-64.so.2";
    private static readonly string[] GitExecutables = [Git, GitRemoteHttp];
    private static readonly string[] OpenSsl = ["libssl.so.3", "libcrypto.so.3"];

    private readonly TempSysroot _root = new();

    public void Dispose() => _root.Dispose();

    private LibraryClosure Resolve(string[] executables, params string[] dlopen) => LibraryResolver.Resolve(executables, dlopen, _root.Root);

    private static void SkipUnlessGitInstalled()
    {
        foreach (string path in GitExecutables)
            Skip.IfNot(File.Exists(path), $"{path} is not installed on this machine");
    }

    // --- The real closure on this machine ---

    /// <summary>
    /// The oracle: DT_NEEDED as readelf reads it, followed transitively, each soname looked up in the two multiarch
    /// directories, compared by the file the kernel's realpath lands on.
    /// </summary>
    [SkippableFact]
    public void GitAndRemoteHttpWithOpenSsl_ClosureEqualsTheReadelfClosure()
    {
        SkipUnlessGitInstalled();
        Skip.If(Oracle.Readelf is null, Oracle.ReadelfMissing);

        LibraryClosure closure = LibraryResolver.Resolve(GitExecutables, OpenSsl);

        var expected = new Dictionary<string, string>(StringComparer.Ordinal);
        var queue = new Queue<string>(GitExecutables);
        foreach (string soname in OpenSsl)
            queue.Enqueue(expected[soname] = LookUpInMultiarchDirectories(soname));
        while (queue.TryDequeue(out string? file))
        {
            foreach (string soname in Oracle.ReadElf(file).Needed.Where(n => !expected.ContainsKey(n)))
                queue.Enqueue(expected[soname] = LookUpInMultiarchDirectories(soname));
        }
        List<string> sonames = expected.Keys.Order(StringComparer.Ordinal).ToList();
        IReadOnlyList<string> realPaths = Oracle.RealPaths(sonames.Select(s => expected[s]).ToList());

        closure.Interpreter.ShouldBe(Oracle.ReadElf(Git).Interpreter);
        closure.Libraries.Select(l => l.Soname).ShouldBe(sonames);
        closure.Libraries.Select(l => l.RealPath).ShouldBe(realPaths);
        foreach (ResolvedLibrary library in closure.Libraries)
            output.WriteLine($"{library.Soname,-28} {library.FoundAt,-52} {new FileInfo(library.RealPath).Length,9}  needed by {library.NeededBy}");
        output.WriteLine($"{closure.Libraries.Count} objects, {closure.Libraries.Sum(l => new FileInfo(l.RealPath).Length)} bytes");
    }

    /// <summary>FoundAt is the path ld.so itself opens, as this machine's ld.so reports in its --list mode.</summary>
    [SkippableFact]
    public void FoundAt_IsThePathThisMachinesLdSoOpens()
    {
        SkipUnlessGitInstalled();
        Skip.IfNot(File.Exists(HostInterpreter), $"{HostInterpreter} is not on this machine");

        foreach (string program in GitExecutables)
        {
            LibraryClosure closure = LibraryResolver.Resolve([program], []);
            var ldSo = Oracle.LdSoList(HostInterpreter, program);

            ldSo.ShouldNotBeEmpty();
            foreach ((string soname, string path) in ldSo)
                closure.Libraries.Single(l => l.Soname == soname).FoundAt.ShouldBe(path, $"{soname} for {program}");
            closure.Libraries.Select(l => l.Soname).Order(StringComparer.Ordinal)
                .ShouldBe(ldSo.Keys.Append("ld-linux-x86-64.so.2").Order(StringComparer.Ordinal));
        }
    }

    [SkippableFact]
    public void RealClosure_IsSortedRepeatableAndEveryRealPathIsAnElfFile()
    {
        SkipUnlessGitInstalled();

        LibraryClosure first = LibraryResolver.Resolve(GitExecutables, OpenSsl);
        LibraryClosure second = LibraryResolver.Resolve(GitExecutables, OpenSsl);

        second.Libraries.ShouldBe(first.Libraries);
        first.Libraries.Select(l => l.Soname).ShouldBe(first.Libraries.Select(l => l.Soname).Order(StringComparer.Ordinal));
        foreach (ResolvedLibrary library in first.Libraries)
        {
            new FileInfo(library.RealPath).LinkTarget.ShouldBeNull(library.RealPath);
            ElfFile.Read(library.RealPath).Path.ShouldBe(library.RealPath);
        }
    }

    [SkippableFact]
    public void RealClosure_InterpreterIsItsOwnPath_AndDlopenedLibrariesSaySo()
    {
        SkipUnlessGitInstalled();

        LibraryClosure closure = LibraryResolver.Resolve(GitExecutables, OpenSsl);

        closure.Interpreter.ShouldBe(HostInterpreter);
        ResolvedLibrary interpreter = closure.Libraries.Single(l => l.Soname == "ld-linux-x86-64.so.2");
        interpreter.FoundAt.ShouldBe(HostInterpreter);
        interpreter.NeededBy.ShouldBe(Git);
        closure.Libraries.Single(l => l.Soname == "libssl.so.3").NeededBy.ShouldBe(Dlopen);
        closure.Libraries.Single(l => l.Soname == "libz.so.1").NeededBy.ShouldBe(Git);
        closure.Libraries.Single(l => l.Soname == "libcurl-gnutls.so.4").NeededBy.ShouldBe(GitRemoteHttp);
    }

    /// <summary>A sysroot must be searched as itself: the build host's own libz is right there, and must not be used.</summary>
    [SkippableFact]
    public void SysrootLackingLibz_FailsNamingLibzGitAndTheDirectoriesSearched()
    {
        SkipUnlessGitInstalled();
        string libc = Oracle.RealPaths(["/lib/x86_64-linux-gnu/libc.so.6"])[0];
        string pcre = Oracle.RealPaths(["/lib/x86_64-linux-gnu/libpcre2-8.so.0"])[0];
        _root.CopyFromHost(Git)
            .Bytes(HostInterpreter, File.ReadAllBytes(HostInterpreter))
            .Bytes("/usr/lib/x86_64-linux-gnu/libc.so.6", File.ReadAllBytes(libc))
            .Bytes("/usr/lib/x86_64-linux-gnu/libpcre2-8.so.0", File.ReadAllBytes(pcre));

        var e = Should.Throw<BundleException>(() => Resolve([Git]));

        e.Message.ShouldStartWith("libz.so.1 (needed by /usr/bin/git) was not found in ");
        e.Message.ShouldContain("/lib/x86_64-linux-gnu, /usr/lib/x86_64-linux-gnu, /lib, /usr/lib, /lib64, /usr/lib64");
        e.Message.ShouldContain(_root.Root);
    }

    // --- Search order, as ld.so's _dl_map_object walks it ---

    private static LoaderScope Scope(string path, string? rpath = null, string? runpath = null, bool noDefaultLibraries = false) =>
        new(path, path[..path.LastIndexOf('/')], rpath, runpath, noDefaultLibraries);

    private static readonly string[] Conf = ["/usr/local/lib", "/opt/conf"];

    private static string[] ThenConfAndDefaults(params string[] first) => [.. first, .. Conf, .. DefaultDirectories];

    [Fact]
    public void SearchOrder_NoPaths_IsConfThenDefaults() =>
        SearchDirectories([Scope("/usr/bin/app")], Conf).ShouldBe(ThenConfAndDefaults());

    [Fact]
    public void SearchOrder_RpathIsInheritedFromEveryLoaderUpToTheExecutable() =>
        SearchDirectories([Scope("/opt/lib/libb.so", rpath: "/b"), Scope("/opt/lib/liba.so", rpath: "/a1:/a2"), Scope("/usr/bin/app", rpath: "/exe")], Conf)
            .ShouldBe(ThenConfAndDefaults("/b", "/a1", "/a2", "/exe"));

    [Fact]
    public void SearchOrder_RunpathIsTheNeedingObjectsOwnAndStopsAllRpath() =>
        SearchDirectories([Scope("/opt/lib/liba.so", rpath: "/own-rpath", runpath: "/own-runpath"), Scope("/usr/bin/app", rpath: "/exe-rpath", runpath: "/exe-runpath")], Conf)
            .ShouldBe(ThenConfAndDefaults("/own-runpath"));

    [Fact]
    public void SearchOrder_ALoaderWithRunpathContributesNoRpath_ButTheChainGoesOnToTheExecutable() =>
        SearchDirectories([Scope("/opt/lib/libb.so"), Scope("/opt/lib/liba.so", rpath: "/dropped", runpath: "/not-inherited"), Scope("/usr/bin/app", rpath: "/exe")], Conf)
            .ShouldBe(ThenConfAndDefaults("/exe"));

    [Fact]
    public void SearchOrder_RpathChainComesBeforeOwnRunpath_OnlyWhenTheNeedingObjectHasNone() =>
        SearchDirectories([Scope("/opt/lib/liba.so"), Scope("/usr/bin/app", rpath: "/exe-rpath")], Conf)
            .ShouldBe(ThenConfAndDefaults("/exe-rpath"));

    [Fact]
    public void SearchOrder_NoDefaultLibraries_DropsDefaultsAndConfDirectoriesUnderThem() =>
        SearchDirectories([Scope("/usr/bin/app", runpath: "/opt/own", noDefaultLibraries: true)], ["/usr/local/lib", "/usr/lib/x86_64-linux-gnu/libfakeroot", "/opt/conf"])
            .ShouldBe(["/opt/own", "/usr/local/lib", "/opt/conf"]);

    [Fact]
    public void SearchOrder_TokensAreExpandedTrailingSlashesTrimmedAndRepeatsDropped() =>
        SearchDirectories([Scope("/opt/app/bin/app", runpath: "$ORIGIN/../lib:${ORIGIN}:/x/$LIB/:/p/${PLATFORM}:/opt/app/bin/:/:/$ORIGINAL:/$FOO")], [])
            .ShouldBe(["/opt/app/bin/../lib", "/opt/app/bin", "/x/lib/x86_64-linux-gnu", "/p/x86_64", "/", "/$ORIGINAL", "/$FOO", .. DefaultDirectories]);

    [Theory]
    [InlineData("$ORIGIN", "/o")]
    [InlineData("${ORIGIN}/x", "/o/x")]
    [InlineData("$ORIGIN_X", "$ORIGIN_X")]
    [InlineData("$ORIGIN9", "$ORIGIN9")]
    [InlineData("${ORIGIN", "${ORIGIN")]
    [InlineData("$LIB$PLATFORM", "lib/x86_64-linux-gnu" + "x86_64")]
    [InlineData("$", "$")]
    [InlineData("a$", "a$")]
    public void Tokens_FollowLdSosRules(string text, string expanded) => ExpandTokens(text, "/o").ShouldBe(expanded);

    /// <summary>
    /// A relative or empty RPATH/RUNPATH entry is searched from the process's working directory, which in the sandbox
    /// is the reviewed repository: anyone who can write a file there could have it loaded into git.
    /// </summary>
    [Theory]
    [InlineData("DT_RUNPATH", null, "lib")]
    [InlineData("DT_RUNPATH", null, "/ok:")]
    [InlineData("DT_RPATH", ":/ok", null)]
    public void RelativeSearchPathEntry_IsRejected_BecauseTheWorkingDirectoryIsUntrusted(string tag, string? rpath, string? runpath)
    {
        var e = Should.Throw<BundleException>(() => SearchDirectories([Scope("/usr/bin/app", rpath, runpath)], []));

        e.Message.ShouldStartWith($"/usr/bin/app: {tag} entry");
        e.Message.ShouldContain("working directory");
    }

    // --- Whole resolutions in a built sysroot ---

    [Fact]
    public void ExecutableRunpathWithOrigin_FindsItsPrivateLibrary()
    {
        _root.WithGlibc()
            .Elf("/opt/app/bin/app", TestElf.Executable("libapp.so.1", "libc.so.6") with { RunPath = "$ORIGIN/../lib" })
            .Elf("/opt/app/lib/libapp.so.1", TestElf.Library("libapp.so.1", "libc.so.6"));

        LibraryClosure closure = Resolve(["/opt/app/bin/app"]);

        closure.Interpreter.ShouldBe("/lib64/ld-linux-x86-64.so.2");
        closure.Libraries.ShouldBe([
            new ResolvedLibrary("ld-linux-x86-64.so.2", "/lib64/ld-linux-x86-64.so.2", "/lib64/ld-linux-x86-64.so.2", "/opt/app/bin/app"),
            new ResolvedLibrary("libapp.so.1", "/opt/app/bin/../lib/libapp.so.1", "/opt/app/lib/libapp.so.1", "/opt/app/bin/app"),
            new ResolvedLibrary("libc.so.6", "/usr/lib/x86_64-linux-gnu/libc.so.6", "/usr/lib/x86_64-linux-gnu/libc.so.6", "/opt/app/bin/app"),
        ]);
    }

    [Fact]
    public void ExecutableRunpath_IsNotUsedForItsLibrariesOwnDependencies()
    {
        _root.WithGlibc()
            .Elf("/usr/bin/app", TestElf.Executable("libapp.so.1") with { RunPath = "/opt/app" })
            .Elf("/opt/app/libapp.so.1", TestElf.Library("libapp.so.1", "libhelper.so.1"))
            .Elf("/opt/app/libhelper.so.1", TestElf.Library("libhelper.so.1"));

        var e = Should.Throw<BundleException>(() => Resolve(["/usr/bin/app"]));

        e.Message.ShouldStartWith("libhelper.so.1 (needed by /opt/app/libapp.so.1) was not found in /lib/x86_64-linux-gnu,");
        e.Message.ShouldContain("LD_LIBRARY_PATH is deliberately not consulted");
    }

    [Fact]
    public void ExecutableRpath_IsInheritedByItsLibrariesDependencies()
    {
        _root.WithGlibc()
            .Elf("/usr/bin/app", TestElf.Executable("libapp.so.1") with { RPath = "/opt/app" })
            .Elf("/opt/app/libapp.so.1", TestElf.Library("libapp.so.1", "libhelper.so.1"))
            .Elf("/opt/app/libhelper.so.1", TestElf.Library("libhelper.so.1", "libc.so.6"));

        Resolve(["/usr/bin/app"]).Libraries.Single(l => l.Soname == "libhelper.so.1")
            .ShouldBe(new ResolvedLibrary("libhelper.so.1", "/opt/app/libhelper.so.1", "/opt/app/libhelper.so.1", "/opt/app/libapp.so.1"));
    }

    [Fact]
    public void RpathOfAnObjectWithRunpath_IsIgnored()
    {
        _root.WithGlibc()
            .Elf("/usr/bin/app", TestElf.Executable("libx.so.1") with { RPath = "/opt/rpath", RunPath = "/opt/runpath" })
            .Elf("/opt/rpath/libx.so.1", TestElf.Library("libx.so.1"))
            .Elf("/opt/runpath/libx.so.1", TestElf.Library("libx.so.1"));

        Resolve(["/usr/bin/app"]).Libraries.Single(l => l.Soname == "libx.so.1").FoundAt.ShouldBe("/opt/runpath/libx.so.1");
    }

    [Fact]
    public void LdSoConfDirectories_AreSearchedBeforeTheDefaults()
    {
        _root.WithGlibc()
            .File("/etc/ld.so.conf", "include /etc/ld.so.conf.d/*.conf\n")
            .File("/etc/ld.so.conf.d/local.conf", "/opt/local/lib\n")
            .Elf("/usr/bin/app", TestElf.Executable("libx.so.1"))
            .Elf("/opt/local/lib/libx.so.1", TestElf.Library("libx.so.1"))
            .Elf("/usr/lib/x86_64-linux-gnu/libx.so.1", TestElf.Library("libx.so.1"));

        Resolve(["/usr/bin/app"]).Libraries.Single(l => l.Soname == "libx.so.1").FoundAt.ShouldBe("/opt/local/lib/libx.so.1");
    }

    [Fact]
    public void LibraryOfAnotherClassOrMachine_IsPassedOver_AsLdSoDoes()
    {
        _root.WithGlibc()
            .File("/etc/ld.so.conf", "/opt/i386\n/opt/arm64\n")
            .Elf("/usr/bin/app", TestElf.Executable("libx.so.1"))
            .Bytes("/opt/i386/libx.so.1", TestElf.Elf32Header())
            .Elf("/opt/arm64/libx.so.1", TestElf.Library("libx.so.1") with { Machine = 183 })
            .Elf("/usr/lib/x86_64-linux-gnu/libx.so.1", TestElf.Library("libx.so.1"));

        Resolve(["/usr/bin/app"]).Libraries.Single(l => l.Soname == "libx.so.1").FoundAt.ShouldBe("/usr/lib/x86_64-linux-gnu/libx.so.1");
    }

    [Fact]
    public void LibrariesOnlyOfAnotherClass_AreNamedInTheNotFoundError()
    {
        _root.WithGlibc()
            .Elf("/usr/bin/app", TestElf.Executable("libx.so.1"))
            .Bytes("/usr/lib/libx.so.1", TestElf.Elf32Header());

        Should.Throw<BundleException>(() => Resolve(["/usr/bin/app"]))
            .Message.ShouldContain("passed over for another ELF class or machine: /usr/lib/libx.so.1");
    }

    /// <summary>ld.so stops with "invalid ELF header" on such a file rather than searching on, so the build stops too.</summary>
    [Fact]
    public void NonElfFileUnderALibraryName_StopsTheResolution()
    {
        _root.WithGlibc()
            .File("/etc/ld.so.conf", "/opt/junk\n")
            .Elf("/usr/bin/app", TestElf.Executable("libx.so.1"))
            .File("/opt/junk/libx.so.1", "INPUT(-lx)\n")
            .Elf("/usr/lib/x86_64-linux-gnu/libx.so.1", TestElf.Library("libx.so.1"));

        Should.Throw<BundleException>(() => Resolve(["/usr/bin/app"]))
            .Message.ShouldBe($"{_root.Host("/opt/junk/libx.so.1")}: not an x86-64 ELF file (no ELF magic number)");
    }

    [Fact]
    public void AbsoluteSymlinkInTheSysroot_ResolvesInsideIt()
    {
        _root.WithGlibc()
            .Elf("/usr/bin/app", TestElf.Executable("libz.so.1"))
            .Symlink("/lib", "usr/lib")
            .Symlink("/usr/lib/x86_64-linux-gnu/libz.so.1", "/lib/x86_64-linux-gnu/libz.so.1.3")
            .Elf("/usr/lib/x86_64-linux-gnu/libz.so.1.3", TestElf.Library("libz.so.1"));

        Resolve(["/usr/bin/app"]).Libraries.Single(l => l.Soname == "libz.so.1")
            .ShouldBe(new ResolvedLibrary("libz.so.1", "/lib/x86_64-linux-gnu/libz.so.1", "/usr/lib/x86_64-linux-gnu/libz.so.1.3", "/usr/bin/app"));
    }

    /// <summary>A symlink naming a path that exists only on the build host must not pull the host's file into the rootfs.</summary>
    [Fact]
    public void SymlinkToAPathOnlyTheBuildHostHas_DoesNotEscapeTheSysroot()
    {
        string hostLibc = Oracle.RealPaths(["/lib/x86_64-linux-gnu/libc.so.6"])[0];
        _root.Elf(HostInterpreter, TestElf.Library("ld-linux-x86-64.so.2"))
            .Elf("/usr/bin/app", TestElf.Executable("libc.so.6"))
            .Symlink("/usr/lib/libc.so.6", hostLibc);

        Should.Throw<BundleException>(() => Resolve(["/usr/bin/app"])).Message.ShouldStartWith("libc.so.6 (needed by /usr/bin/app) was not found");
    }

    [Fact]
    public void SymlinkLoop_IsAnError_AsItIsForLdSo()
    {
        _root.WithGlibc()
            .Elf("/usr/bin/app", TestElf.Executable("libx.so.1"))
            .Symlink("/usr/lib/x86_64-linux-gnu/libx.so.1", "libx.so.1");

        Should.Throw<BundleException>(() => Resolve(["/usr/bin/app"]))
            .Message.ShouldBe($"{_root.Host("/usr/lib/x86_64-linux-gnu/libx.so.1")}: too many levels of symbolic links");
    }

    [Fact]
    public void OriginDotDot_DoesNotClimbAboveTheSysroot()
    {
        _root.WithGlibc()
            .Elf("/usr/bin/app", TestElf.Executable("libx.so.1") with { RunPath = "$ORIGIN/../../../../../../../opt/lib" })
            .Elf("/opt/lib/libx.so.1", TestElf.Library("libx.so.1"));

        Resolve(["/usr/bin/app"]).Libraries.Single(l => l.Soname == "libx.so.1").RealPath.ShouldBe("/opt/lib/libx.so.1");
    }

    [Fact]
    public void ExecutableOrigin_IsWhereItsSymlinkLeads_LikeProcSelfExe()
    {
        _root.WithGlibc()
            .Symlink("/usr/bin/app", "/opt/app/bin/app")
            .Elf("/opt/app/bin/app", TestElf.Executable("libapp.so.1") with { RunPath = "$ORIGIN" })
            .Elf("/opt/app/bin/libapp.so.1", TestElf.Library("libapp.so.1"));

        Resolve(["/usr/bin/app"]).Libraries.Single(l => l.Soname == "libapp.so.1").FoundAt.ShouldBe("/opt/app/bin/libapp.so.1");
    }

    [Fact]
    public void LibcNeedingTheInterpreter_GetsTheMappedInterpreter_NotASecondCopy()
    {
        _root.WithGlibc()
            .Elf("/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", TestElf.Library("ld-linux-x86-64.so.2"))
            .Elf("/usr/bin/app", TestElf.Executable("libc.so.6"));

        Resolve(["/usr/bin/app"]).Libraries.Single(l => l.Soname == "ld-linux-x86-64.so.2").FoundAt.ShouldBe("/lib64/ld-linux-x86-64.so.2");
    }

    [Fact]
    public void LoadedLibrary_IsReusedForANeedOfItsSoname()
    {
        _root.WithGlibc()
            .Elf("/usr/bin/app", TestElf.Executable("libfoo.so", "libbar.so.1"))
            .Elf("/usr/lib/x86_64-linux-gnu/libfoo.so", TestElf.Library("libfoo.so.1"))
            .Elf("/usr/lib/x86_64-linux-gnu/libbar.so.1", TestElf.Library("libbar.so.1", "libfoo.so.1"))
            .Elf("/usr/lib/x86_64-linux-gnu/libfoo.so.1", TestElf.Library("libfoo.so.1"));

        Resolve(["/usr/bin/app"]).Libraries.Select(l => l.Soname).ShouldBe(["ld-linux-x86-64.so.2", "libbar.so.1", "libfoo.so"]);
    }

    [Fact]
    public void NeededPathWithOrigin_IsOpenedDirectly()
    {
        _root.WithGlibc()
            .Elf("/usr/bin/app", TestElf.Executable("$ORIGIN/../lib/plugin.so"))
            .Elf("/usr/lib/plugin.so", TestElf.Library("plugin.so"));

        Resolve(["/usr/bin/app"]).Libraries.Single(l => l.Soname == "$ORIGIN/../lib/plugin.so")
            .ShouldBe(new ResolvedLibrary("$ORIGIN/../lib/plugin.so", "/usr/bin/../lib/plugin.so", "/usr/lib/plugin.so", "/usr/bin/app"));
    }

    [Fact]
    public void DlopenedLibrary_IsSearchedWithTheFirstExecutablesRunpath_AndBringsItsDependencies()
    {
        _root.WithGlibc()
            .Elf("/usr/bin/app", TestElf.Executable("libc.so.6") with { RunPath = "/opt/app" })
            .Elf("/usr/bin/other", TestElf.Executable("libc.so.6"))
            .Elf("/opt/app/libplugin.so.1", TestElf.Library("libplugin.so.1", "libdep.so.1"))
            .Elf("/usr/lib/x86_64-linux-gnu/libdep.so.1", TestElf.Library("libdep.so.1"));

        LibraryClosure closure = Resolve(["/usr/bin/app", "/usr/bin/other"], "libplugin.so.1", "libdep.so.1");

        closure.Libraries.Single(l => l.Soname == "libplugin.so.1").ShouldBe(new ResolvedLibrary("libplugin.so.1", "/opt/app/libplugin.so.1", "/opt/app/libplugin.so.1", Dlopen));
        closure.Libraries.Single(l => l.Soname == "libdep.so.1").NeededBy.ShouldBe("/opt/app/libplugin.so.1");
    }

    [Fact]
    public void MissingDlopenedLibrary_SaysItWasDlopened()
    {
        _root.WithGlibc().Elf("/usr/bin/app", TestElf.Executable("libc.so.6"));

        Should.Throw<BundleException>(() => Resolve(["/usr/bin/app"], "libssl.so.3"))
            .Message.ShouldStartWith("libssl.so.3 (dlopen'd by /usr/bin/app) was not found in ");
    }

    [Fact]
    public void ExecutablesWithDifferentInterpreters_AreAnError()
    {
        _root.WithGlibc()
            .Elf("/usr/bin/app", TestElf.Executable("libc.so.6"))
            .Elf("/lib/ld-musl-x86_64.so.1", TestElf.Library("ld-musl-x86_64.so.1"))
            .Elf("/usr/bin/musl-app", new TestElf { Interpreter = "/lib/ld-musl-x86_64.so.1" });

        Should.Throw<BundleException>(() => Resolve(["/usr/bin/app", "/usr/bin/musl-app"]))
            .Message.ShouldBe("/usr/bin/musl-app: program interpreter /lib/ld-musl-x86_64.so.1 differs from /lib64/ld-linux-x86-64.so.2 of /usr/bin/app; the rootfs holds one");
    }

    [Fact]
    public void OneSonameResolvingToTwoFilesForTwoExecutables_IsAnError()
    {
        _root.WithGlibc()
            .Elf("/usr/bin/one", TestElf.Executable("libx.so.1") with { RunPath = "/opt/one" })
            .Elf("/usr/bin/two", TestElf.Executable("libx.so.1") with { RunPath = "/opt/two" })
            .Elf("/opt/one/libx.so.1", TestElf.Library("libx.so.1"))
            .Elf("/opt/two/libx.so.1", TestElf.Library("libx.so.1"));

        Should.Throw<BundleException>(() => Resolve(["/usr/bin/one", "/usr/bin/two"]))
            .Message.ShouldStartWith("libx.so.1: resolves to /opt/one/libx.so.1 (needed by /usr/bin/one) and to /opt/two/libx.so.1 (needed by /usr/bin/two)");
    }

    [Fact]
    public void StaticExecutable_NeedsNoInterpreterOrLibraries_ButCannotDlopen()
    {
        _root.Elf("/usr/bin/static", new TestElf { Dynamic = false, Type = 2 });

        LibraryClosure closure = Resolve(["/usr/bin/static"]);

        closure.Interpreter.ShouldBeNull();
        closure.Libraries.ShouldBeEmpty();
        Should.Throw<BundleException>(() => Resolve(["/usr/bin/static"], "libssl.so.3")).Message.ShouldContain("is statically linked, so it cannot dlopen libssl.so.3");
    }

    [Fact]
    public void SharedLibraryGivenAsExecutable_IsAnError()
    {
        _root.Elf("/usr/lib/libx.so.1", TestElf.Library("libx.so.1", "libc.so.6"));

        Should.Throw<BundleException>(() => Resolve(["/usr/lib/libx.so.1"])).Message.ShouldContain("has DT_NEEDED entries but no PT_INTERP");
    }

    [Fact]
    public void MissingExecutable_AndRelativeExecutablePath_AreErrors()
    {
        Should.Throw<BundleException>(() => Resolve(["/usr/bin/absent"])).Message.ShouldBe($"{_root.Host("/usr/bin/absent")}: executable not found");
        Should.Throw<BundleException>(() => Resolve(["usr/bin/app"])).Message.ShouldContain("must be absolute paths inside the rootfs");
    }

    private static string LookUpInMultiarchDirectories(string soname) =>
        new[] { "/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu" }.Select(d => Path.Join(d, soname)).FirstOrDefault(File.Exists)
        ?? throw new InvalidOperationException($"oracle: {soname} is in neither multiarch directory");
}
