namespace AutoReview.Bundle.Elf;

/// <summary>
/// The library directories named by /etc/ld.so.conf in a sysroot, read the way ldconfig reads them to build
/// /etc/ld.so.cache. Reading the configuration instead of the binary cache keeps the result independent of
/// whether ldconfig was re-run after the last package install, and works for a sysroot that has no cache.
/// </summary>
internal static class LdSoConf
{
    private const string MainFile = "/etc/ld.so.conf";

    /// <summary>The directories, rootfs-absolute, in the order ldconfig adds them, each once.</summary>
    public static IReadOnlyList<string> Directories(string sysroot)
    {
        var directories = new List<string>();
        Parse(sysroot, MainFile, directories, []);
        // ldconfig drops a directory it has already added; the first occurrence keeps its place.
        var seen = new HashSet<string>(StringComparer.Ordinal);
        return directories.Where(seen.Add).ToList();
    }

    /// <param name="including">The files being parsed further up the include chain, to stop an include cycle.</param>
    private static void Parse(string sysroot, string file, List<string> directories, List<string> including)
    {
        // ldconfig skips a configuration file that does not exist; a glob match that is a directory reads as empty.
        string? canonical = SysrootPath.Resolve(sysroot, file);
        string host = SysrootPath.Host(sysroot, canonical ?? file);
        if (canonical is null || !File.Exists(host))
            return;
        if (including.Contains(canonical))
            throw new BundleException($"{host}: includes itself ({string.Join(" → ", including.Append(canonical))})");
        including.Add(canonical);

        string[] lines;
        try
        {
            lines = File.ReadAllText(host).Split('\n');
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // ldconfig would warn and go on, but the cache it built as root may well hold these directories.
            throw new BundleException($"{host}: cannot read: {e.Message}", e);
        }

        for (int i = 0; i < lines.Length; i++)
        {
            // The format has no quoting, so '#' anywhere starts a comment.
            string line = lines[i].Split('#')[0].TrimStart(Whitespace);
            if (line.Length == 0)
                continue;
            if (line.StartsWith("include", StringComparison.Ordinal) && line.Length > 7 && line[7] is ' ' or '\t')
            {
                foreach (string pattern in line[8..].Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries))
                {
                    // A relative pattern is taken relative to the including file's directory, as ldconfig does.
                    string absolute = pattern.StartsWith('/') ? pattern : $"{file[..file.LastIndexOf('/')]}/{pattern}";
                    foreach (string included in Glob(sysroot, absolute))
                        Parse(sysroot, included, directories, including);
                }
            }
            else if (line.StartsWith("hwcap", StringComparison.OrdinalIgnoreCase) && line.Length > 5 && line[5] is ' ' or '\t')
            {
                // ldconfig prints "hwcap directive ignored" and skips the line.
            }
            else if (ParseDirectory(host, i + 1, line) is { } directory)
            {
                directories.Add(directory);
            }
        }
        including.RemoveAt(including.Count - 1);
    }

    private static readonly char[] Whitespace = [' ', '\t', '\n', '\v', '\f', '\r'];

    /// <summary>The directory a line names, or null for a line ldconfig ignores (nothing left once trailing slashes go, "/" included).</summary>
    private static string? ParseDirectory(string host, int lineNumber, string line)
    {
        // "dir=libc6" is an old ldconfig syntax giving the library type of the directory; only the path matters here.
        int equals = line.IndexOf('=');
        string path = (equals >= 0 ? line[..equals] : line).TrimEnd(Whitespace).TrimEnd('/');
        if (path.Length == 0)
            return null;
        // A relative entry would be looked up from whatever the working directory is at run time.
        return path.StartsWith('/')
            ? path
            : throw new BundleException($"{host}:{lineNumber}: library directory `{path}` is not absolute");
    }

    /// <summary>
    /// glob(3) without flags, inside the sysroot: '*', '?', '[...]' and '\' escapes within one path component;
    /// names starting with '.' match only a pattern that starts with '.'; matches sorted bytewise (ldconfig
    /// sets LC_COLLATE=C so include order does not depend on the locale).
    /// </summary>
    internal static IReadOnlyList<string> Glob(string sysroot, string pattern)
    {
        var matches = new List<string> { "" };
        foreach (string component in pattern.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            var next = new List<string>();
            foreach (string prefix in matches)
            {
                if (component.IndexOfAny(['*', '?', '[']) < 0)
                {
                    next.Add($"{prefix}/{Unescape(component)}");
                    continue;
                }
                string? directory = SysrootPath.Resolve(sysroot, prefix.Length == 0 ? "/" : prefix);
                string? host = directory is null ? null : SysrootPath.Host(sysroot, directory);
                if (host is null || !Directory.Exists(host))
                    continue;
                foreach (string entry in Directory.EnumerateFileSystemEntries(host))
                {
                    string name = Path.GetFileName(entry);
                    if ((!name.StartsWith('.') || component.StartsWith('.')) && GlobMatch(component, name))
                        next.Add($"{prefix}/{name}");
                }
            }
            matches = next;
        }
        // A pattern without wildcards names one path, which glob returns only if it exists.
        return matches.Where(m => SysrootPath.Resolve(sysroot, m) is not null).Order(StringComparer.Ordinal).ToList();
    }

    private static string Unescape(string component) => component.Contains('\\') ? string.Concat(Literals(component)) : component;

    private static IEnumerable<char> Literals(string component)
    {
        for (int i = 0; i < component.Length; i++)
            yield return component[i] == '\\' && i + 1 < component.Length ? component[++i] : component[i];
    }

    /// <summary>fnmatch(3) for one path component, without flags.</summary>
    internal static bool GlobMatch(string pattern, string name)
    {
        int p = 0, n = 0;
        int starPattern = -1, starName = 0;
        while (n < name.Length)
        {
            if (p < pattern.Length && MatchOne(pattern, p, name[n]) is { } after)
            {
                p = after;
                n++;
                continue;
            }
            if (p < pattern.Length && pattern[p] == '*')
            {
                starPattern = p++;
                starName = n;
                continue;
            }
            // Mismatch: let the last '*' swallow one more character and try again from there.
            if (starPattern < 0)
                return false;
            p = starPattern + 1;
            n = ++starName;
        }
        while (p < pattern.Length && pattern[p] == '*')
            p++;
        return p == pattern.Length;
    }

    /// <summary>If the pattern element at <paramref name="p"/> (not '*') matches <paramref name="c"/>, the index after it.</summary>
    private static int? MatchOne(string pattern, int p, char c)
    {
        switch (pattern[p])
        {
            case '*':
                return null;
            case '?':
                return p + 1;
            case '[' when BracketEnd(pattern, p) is { } end:
                return InBracket(pattern, p + 1, end, c) ? end + 1 : null;
            case '\\' when p + 1 < pattern.Length:
                return pattern[p + 1] == c ? p + 2 : null;
            default:
                return pattern[p] == c ? p + 1 : null;
        }
    }

    /// <summary>The index of the ']' closing the bracket expression at <paramref name="open"/>; null makes '[' a literal.</summary>
    private static int? BracketEnd(string pattern, int open)
    {
        int i = open + 1;
        if (i < pattern.Length && pattern[i] is '!' or '^')
            i++;
        // A ']' right after '[' or '[!' is a member, not the end.
        if (i < pattern.Length && pattern[i] == ']')
            i++;
        int end = pattern.IndexOf(']', i);
        return end < 0 ? null : end;
    }

    private static bool InBracket(string pattern, int start, int end, char c)
    {
        bool negated = pattern[start] is '!' or '^';
        int i = negated ? start + 1 : start;
        bool found = false;
        while (i < end)
        {
            char low = pattern[i];
            if (i + 2 < end && pattern[i + 1] == '-')
            {
                found |= c >= low && c <= pattern[i + 2];
                i += 3;
            }
            else
            {
                found |= c == low;
                i++;
            }
        }
        return found != negated;
    }
}
