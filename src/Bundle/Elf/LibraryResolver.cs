using System.Text;

namespace AutoReview.Bundle.Elf;

/// <summary>The program interpreter and the shared libraries a set of executables loads.</summary>
/// <param name="Interpreter">The executables' common PT_INTERP (a rootfs path), or null if all are static.</param>
/// <param name="Libraries">Every object ld.so would load, the interpreter included, once per soname, sorted ordinally by soname.</param>
public sealed record LibraryClosure(string? Interpreter, IReadOnlyList<ResolvedLibrary> Libraries);

/// <param name="Soname">The name the object is loaded by: the DT_NEEDED or dlopen string (the interpreter's own DT_SONAME).</param>
/// <param name="FoundAt">The rootfs path ld.so opens, e.g. /lib/x86_64-linux-gnu/libz.so.1; for the interpreter, PT_INTERP.</param>
/// <param name="RealPath">FoundAt with every symlink resolved inside the sysroot: the file whose bytes to copy, read at the sysroot joined with this path.</param>
/// <param name="NeededBy">The rootfs path of the object whose DT_NEEDED (or PT_INTERP) first named it, or "dlopen".</param>
public sealed record ResolvedLibrary(string Soname, string FoundAt, string RealPath, string NeededBy);

/// <summary>
/// Finds shared libraries the way glibc's ld.so does on x86-64 (elf/dl-load.c, _dl_map_object): breadth-first
/// over DT_NEEDED, an already-loaded object matched by name or DT_SONAME, and for each name the search order
/// DT_RPATH chain, DT_RUNPATH, the ld.so.conf directories (standing in for ld.so.cache), the default directories.
/// All paths are rootfs paths, read inside <c>sysroot</c>, so a Nix store or a chroot resolves as itself.
/// ld.so also tries CPU-specific subdirectories (glibc-hwcaps/x86-64-v3, tls, x86_64) of every directory; they are
/// not searched here, so the baseline build of a library is chosen whatever CPU builds the bundle, and it is the
/// one ld.so finds in the rootfs, which holds no such subdirectories.
/// </summary>
public static class LibraryResolver
{
    /// <summary><see cref="ResolvedLibrary.NeededBy"/> of the libraries named in the dlopen list.</summary>
    internal const string Dlopen = "dlopen";

    /// <summary>
    /// $LIB as Debian's ld.so expands it: LD_DEBUG=libs shows "/x/$LIB" searched as /x/lib/x86_64-linux-gnu.
    /// Upstream glibc says "lib64" on x86-64 and Nix's says "lib"; the value belongs to the interpreter that will
    /// run in the rootfs, which is the one copied from this (Debian) build host.
    /// </summary>
    internal const string LibToken = "lib/x86_64-linux-gnu";

    /// <summary>$PLATFORM: AT_PLATFORM, which the kernel sets to "x86_64" on this architecture.</summary>
    internal const string PlatformToken = "x86_64";

    /// <summary>
    /// ld.so's default directories, searched last. The first four are what this Debian's ld.so --help prints as
    /// its "system search path"; /lib64 and /usr/lib64 are upstream glibc's x86-64 defaults (Fedora, Arch), which
    /// Debian's ld.so does not search, so a library found only there would not load under a Debian interpreter.
    /// </summary>
    internal static readonly IReadOnlyList<string> DefaultDirectories =
        ["/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib", "/usr/lib", "/lib64", "/usr/lib64"];

    public static LibraryClosure Resolve(IEnumerable<string> executables, IEnumerable<string> dlopenSonames, string sysroot = "/")
    {
        List<string> programs = executables.ToList();
        List<string> dlopened = dlopenSonames.ToList();
        if (programs.Count == 0)
            throw new BundleException("library closure: no executables given");
        string root = Path.GetFullPath(sysroot);
        if (!Directory.Exists(root))
            throw new BundleException($"{sysroot}: sysroot is not a directory");
        var session = new Session(root, LdSoConf.Directories(root));

        string? interpreter = null, interpreterOf = null;
        var libraries = new Dictionary<string, ResolvedLibrary>(StringComparer.Ordinal);
        for (int i = 0; i < programs.Count; i++)
        {
            // Each executable is a process of its own, with its own loader chains: resolve each, then merge.
            (string? programInterpreter, List<ResolvedLibrary> loaded) = session.Run(programs[i], i == 0 ? dlopened : []);
            if (programInterpreter is not null && interpreter is not null && programInterpreter != interpreter)
                throw new BundleException($"{programs[i]}: program interpreter {programInterpreter} differs from {interpreter} of {interpreterOf}; the rootfs holds one");
            if (interpreter is null && programInterpreter is not null)
                (interpreter, interpreterOf) = (programInterpreter, programs[i]);
            foreach (ResolvedLibrary library in loaded)
            {
                if (!libraries.TryGetValue(library.Soname, out ResolvedLibrary? earlier))
                    libraries.Add(library.Soname, library);
                else if (earlier.RealPath != library.RealPath)
                    throw new BundleException($"{library.Soname}: resolves to {earlier.RealPath} (needed by {earlier.NeededBy}) and to {library.RealPath} (needed by {library.NeededBy}); one soname cannot name two files in one rootfs");
            }
        }
        return new LibraryClosure(interpreter, libraries.Values.OrderBy(l => l.Soname, StringComparer.Ordinal).ToList());
    }

    /// <summary>One object on the chain of loaders (ld.so's l_loader): what its own dynamic section says about searching.</summary>
    /// <param name="Path">Its rootfs path, for messages.</param>
    /// <param name="Origin">What $ORIGIN expands to for it.</param>
    internal sealed record LoaderScope(string Path, string Origin, string? RPath, string? RunPath, bool NoDefaultLibraries);

    /// <summary>
    /// The directories ld.so searches, in order and each once, for a name that <c>loaderChain[0]</c> needs.
    /// <paramref name="loaderChain"/> runs from that object through the object that loaded it, and so on, to the
    /// executable (the last element): ld.so walks l_loader and then tries the executable's DT_RPATH, which
    /// together visit exactly this chain.
    /// </summary>
    internal static IReadOnlyList<string> SearchDirectories(IReadOnlyList<LoaderScope> loaderChain, IReadOnlyList<string> configuredDirectories)
    {
        var directories = new List<string>();
        LoaderScope loader = loaderChain[0];
        // DT_RPATH is inherited down the chain, but only when the needing object has no DT_RUNPATH, and an object
        // with DT_RUNPATH contributes no DT_RPATH of its own (elf_get_dynamic_info drops it).
        if (loader.RunPath is null)
        {
            foreach (LoaderScope scope in loaderChain)
            {
                if (scope is { RunPath: null, RPath: { } rpath })
                    AddPathList(directories, scope, rpath, "DT_RPATH");
            }
        }
        // ld.so searches LD_LIBRARY_PATH here. It is deliberately not consulted: the rootfs must come out the same
        // whatever the environment of whoever builds it (and the rootfs spec's environment does not set it).
        if (loader.RunPath is { } runpath)
            AddPathList(directories, loader, runpath, "DT_RUNPATH");

        if (loader.NoDefaultLibraries)
        {
            // ld.so still consults ld.so.cache, but rejects an entry under any default directory.
            directories.AddRange(configuredDirectories.Where(d => !DefaultDirectories.Any(s => d == s || d.StartsWith(s + "/", StringComparison.Ordinal))));
        }
        else
        {
            directories.AddRange(configuredDirectories);
            directories.AddRange(DefaultDirectories);
        }
        // Searching a directory a second time finds nothing new; the first occurrence decides the order.
        var seen = new HashSet<string>(StringComparer.Ordinal);
        return directories.Where(seen.Add).ToList();
    }

    /// <summary>A colon-separated DT_RPATH or DT_RUNPATH, each entry expanded as ld.so's fillin_rpath does.</summary>
    private static void AddPathList(List<string> directories, LoaderScope scope, string list, string tag)
    {
        foreach (string entry in list.Split(':'))
        {
            string directory = ExpandTokens(entry, scope.Origin);
            // ld.so would open a relative entry (an empty one means ".") against the working directory of the
            // process at run time: a directory the bundle does not control.
            if (!directory.StartsWith('/'))
                throw new BundleException($"{scope.Path}: {tag} entry `{entry}` is relative; ld.so would look for libraries in the working directory at run time");
            directories.Add(directory.Length > 1 ? directory.TrimEnd('/') : directory);
        }
    }

    /// <summary>
    /// Expands $ORIGIN, $LIB and $PLATFORM, also written ${ORIGIN} and so on. As in ld.so's is_dst, an unbraced
    /// name followed by a letter, digit or '_' is some other name, and an unknown token stays as written.
    /// </summary>
    internal static string ExpandTokens(string text, string origin)
    {
        var result = new StringBuilder(text.Length);
        for (int i = 0; i < text.Length;)
        {
            if (text[i] == '$' && Token(text, i + 1, origin) is ({ } value, int length))
            {
                result.Append(value);
                i += 1 + length;
            }
            else
            {
                result.Append(text[i++]);
            }
        }
        return result.ToString();
    }

    private static (string Value, int Length)? Token(string text, int start, string origin)
    {
        bool braced = start < text.Length && text[start] == '{';
        int nameStart = braced ? start + 1 : start;
        foreach ((string name, string value) in new[] { ("ORIGIN", origin), ("PLATFORM", PlatformToken), ("LIB", LibToken) })
        {
            if (nameStart + name.Length > text.Length || string.CompareOrdinal(text, nameStart, name, 0, name.Length) != 0)
                continue;
            int after = nameStart + name.Length;
            if (braced)
            {
                if (after < text.Length && text[after] == '}')
                    return (value, name.Length + 2);
            }
            else if (after == text.Length || !(char.IsAsciiLetterOrDigit(text[after]) || text[after] == '_'))
            {
                return (value, name.Length);
            }
        }
        return null;
    }

    /// <summary>An object ld.so has mapped in one process.</summary>
    /// <param name="Path">The rootfs path it was opened at (for the executable, as given).</param>
    private sealed record LoadedObject(string Path, string Origin, ElfFile Elf, LoadedObject? Loader)
    {
        public IReadOnlyList<LoaderScope> Chain()
        {
            var chain = new List<LoaderScope>();
            for (LoadedObject? o = this; o is not null; o = o.Loader)
                chain.Add(new LoaderScope(o.Path, o.Origin, o.Elf.RPath, o.Elf.RunPath, o.Elf.NoDefaultLibraries));
            return chain;
        }
    }

    /// <summary>One resolution over one sysroot; library candidates are parsed once however many processes look at them.</summary>
    private sealed class Session(string sysroot, IReadOnlyList<string> configuredDirectories)
    {
        private readonly Dictionary<string, ElfFile?> _candidates = new(StringComparer.Ordinal);

        /// <summary>Loads <paramref name="executable"/> as ld.so would at exec, then dlopens <paramref name="dlopen"/> from it.</summary>
        public (string? Interpreter, List<ResolvedLibrary> Libraries) Run(string executable, IReadOnlyList<string> dlopen)
        {
            if (!executable.StartsWith('/'))
                throw new BundleException($"{executable}: executable paths must be absolute paths inside the rootfs");
            string canonical = SysrootPath.Resolve(sysroot, executable)
                               ?? throw new BundleException($"{SysrootPath.Host(sysroot, executable)}: executable not found");
            ElfFile program = ElfFile.Read(SysrootPath.Host(sysroot, canonical));
            // ld.so takes the executable's $ORIGIN from /proc/self/exe, where symlinks are already resolved.
            var main = new LoadedObject(executable, DirectoryOf(canonical), program, Loader: null);

            if (program.Interpreter is not { } interpreter)
            {
                if (program.Needed.Count > 0)
                    throw new BundleException($"{program.Path}: has DT_NEEDED entries but no PT_INTERP, so nothing would load them (is it a shared library?)");
                if (dlopen.Count > 0)
                    throw new BundleException($"{program.Path}: is statically linked, so it cannot dlopen {string.Join(", ", dlopen)}");
                return (null, []);
            }

            var libraries = new List<ResolvedLibrary>();
            // Names ld.so matches an already-loaded object by (_dl_lookup_map): the name it was loaded by, and its DT_SONAME.
            var loaded = new HashSet<string>(StringComparer.Ordinal);
            if (program.Soname is { } programSoname)
                loaded.Add(programSoname);
            AddInterpreter(executable, interpreter, loaded, libraries);

            var queue = new Queue<LoadedObject>();
            queue.Enqueue(main);
            Drain(queue, loaded, libraries);
            foreach (string name in dlopen)
            {
                // dlopen searches with the caller's RPATH/RUNPATH; the caller is taken to be the executable.
                if (Load(name, main, Dlopen, loaded, libraries) is { } library)
                {
                    queue.Enqueue(library);
                    Drain(queue, loaded, libraries);
                }
            }
            return (interpreter, libraries);
        }

        /// <summary>
        /// The kernel maps the interpreter from PT_INTERP before ld.so runs, so it is never searched for: a later
        /// DT_NEEDED of its soname (libc.so.6 needs ld-linux-x86-64.so.2) matches it as already loaded.
        /// Its own dependencies are never loaded (ld.so relocates itself), so none are followed.
        /// </summary>
        private void AddInterpreter(string executable, string interpreter, HashSet<string> loaded, List<ResolvedLibrary> libraries)
        {
            // The kernel would open a relative PT_INTERP against the working directory at exec time.
            if (!interpreter.StartsWith('/'))
                throw new BundleException($"{executable}: PT_INTERP `{interpreter}` is not an absolute path");
            string canonical = SysrootPath.Resolve(sysroot, interpreter)
                               ?? throw new BundleException($"{SysrootPath.Host(sysroot, interpreter)}: program interpreter of {executable} not found");
            ElfFile elf = ElfFile.Read(SysrootPath.Host(sysroot, canonical));
            string soname = elf.Soname ?? interpreter[(interpreter.LastIndexOf('/') + 1)..];
            loaded.Add(interpreter);
            loaded.Add(soname);
            libraries.Add(new ResolvedLibrary(soname, interpreter, canonical, executable));
        }

        /// <summary>Breadth-first, in DT_NEEDED order: the order ld.so's _dl_map_object_deps loads in.</summary>
        private void Drain(Queue<LoadedObject> queue, HashSet<string> loaded, List<ResolvedLibrary> libraries)
        {
            while (queue.TryDequeue(out LoadedObject? loader))
            {
                foreach (string name in loader.Elf.Needed)
                {
                    if (Load(name, loader, loader.Path, loaded, libraries) is { } library)
                        queue.Enqueue(library);
                }
            }
        }

        /// <summary>Maps <paramref name="name"/> for <paramref name="loader"/>, or returns null if it is already loaded.</summary>
        private LoadedObject? Load(string name, LoadedObject loader, string neededBy, HashSet<string> loaded, List<ResolvedLibrary> libraries)
        {
            if (!loaded.Add(name))
                return null;
            string who = neededBy == Dlopen ? $"dlopen'd by {loader.Path}" : $"needed by {neededBy}";
            (string foundAt, string realPath, ElfFile elf) = name.Contains('/') ? OpenPath(name, loader, who) : Search(name, loader, who);

            // ld.so takes a library's $ORIGIN from the path it opened, without resolving symlinks.
            var library = new LoadedObject(foundAt, DirectoryOf(foundAt), elf, loader);
            if (elf.Soname is { } soname)
                loaded.Add(soname);
            libraries.Add(new ResolvedLibrary(name, foundAt, realPath, neededBy));
            return library;
        }

        /// <summary>A name with a slash is opened as a path (after $ORIGIN and the like are expanded), never searched for.</summary>
        private (string FoundAt, string RealPath, ElfFile Elf) OpenPath(string name, LoadedObject loader, string who)
        {
            string path = ExpandTokens(name, loader.Origin);
            if (!path.StartsWith('/'))
                throw new BundleException($"{name} ({who}): a relative path, which ld.so would open against the working directory at run time");
            string realPath = SysrootPath.Resolve(sysroot, path) ?? throw new BundleException($"{SysrootPath.Host(sysroot, path)} ({who}): not found");
            return Candidate(path, realPath) is { } elf
                ? (path, realPath, elf)
                : throw new BundleException($"{SysrootPath.Host(sysroot, path)} ({who}): not an x86-64 ELF file");
        }

        private (string FoundAt, string RealPath, ElfFile Elf) Search(string name, LoadedObject loader, string who)
        {
            IReadOnlyList<string> directories = SearchDirectories(loader.Chain(), configuredDirectories);
            var passedOver = new List<string>();
            foreach (string directory in directories)
            {
                string foundAt = directory == "/" ? "/" + name : $"{directory}/{name}";
                if (SysrootPath.Resolve(sysroot, foundAt) is not { } realPath)
                    continue;
                if (Candidate(foundAt, realPath) is { } elf)
                    return (foundAt, realPath, elf);
                passedOver.Add(foundAt);
            }
            string skipped = passedOver.Count > 0 ? $"; passed over for another ELF class or machine: {string.Join(", ", passedOver)}" : "";
            throw new BundleException(
                $"{name} ({who}) was not found in {string.Join(", ", directories)}{skipped} " +
                $"(inside sysroot {sysroot}; LD_LIBRARY_PATH is deliberately not consulted)");
        }

        /// <summary>The candidate's ELF, or null if ld.so would pass over it for another class or machine.</summary>
        private ElfFile? Candidate(string foundAt, string realPath)
        {
            if (_candidates.TryGetValue(realPath, out ElfFile? cached))
                return cached;
            string host = SysrootPath.Host(sysroot, realPath);
            // ld.so opens a directory and then fails to read it, which stops the search with an error.
            if (!File.Exists(host))
                throw new BundleException($"{SysrootPath.Host(sysroot, foundAt)}: not a regular file, which ld.so would fail on");
            ElfFile? elf = ElfFile.ReadCandidate(host);
            _candidates.Add(realPath, elf);
            return elf;
        }

        private static string DirectoryOf(string path)
        {
            int slash = path.LastIndexOf('/');
            return slash == 0 ? "/" : path[..slash];
        }
    }
}
