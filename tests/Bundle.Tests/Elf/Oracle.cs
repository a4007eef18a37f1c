using System.Diagnostics;
using System.Text.RegularExpressions;

namespace AutoReview.Bundle.Tests.Elf;

/// <summary>What binutils readelf says about a file: the independent reading the parser is checked against.</summary>
internal sealed record ReadelfView(string? Interpreter, IReadOnlyList<string> Needed, string? Soname, string? RunPath, string? RPath);

/// <summary>Host tools used as oracles by the tests (never by the product): readelf, realpath, and ld.so --list.</summary>
internal static partial class Oracle
{
    public const string ReadelfMissing = "binutils readelf not installed";

    public static readonly string? Readelf = FindOnPath("readelf");

    public static ReadelfView ReadElf(string path)
    {
        string output = Run(Readelf ?? throw new InvalidOperationException(ReadelfMissing), "--wide", "--program-headers", "--dynamic", path);
        string? One(Regex pattern) => pattern.Match(output) is { Success: true } m ? m.Groups[1].Value : null;
        return new ReadelfView(
            Interpreter: One(InterpreterLine()),
            Needed: NeededLine().Matches(output).Select(m => m.Groups[1].Value).ToList(),
            Soname: One(SonameLine()),
            RunPath: One(RunpathLine()),
            RPath: One(RpathLine()));
    }

    /// <summary>coreutils realpath: every symlink in the path resolved by the kernel, not by the code under test.</summary>
    public static IReadOnlyList<string> RealPaths(IReadOnlyList<string> paths) =>
        Run("realpath", ["-e", "--", .. paths]).Split('\n', StringSplitOptions.RemoveEmptyEntries);

    /// <summary>
    /// soname → path as this machine's ld.so finds them for <paramref name="program"/>, from its --list mode
    /// (which maps the libraries without running the program), with a clean environment.
    /// </summary>
    public static IReadOnlyDictionary<string, string> LdSoList(string interpreter, string program) =>
        LdSoListLine().Matches(Run(interpreter, "--list", program))
            .ToDictionary(m => m.Groups[1].Value, m => m.Groups[2].Value, StringComparer.Ordinal);

    public static string Run(string file, params string[] arguments)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string argument in arguments)
            start.ArgumentList.Add(argument);
        start.Environment["LC_ALL"] = "C";
        start.Environment.Remove("LD_LIBRARY_PATH");
        start.Environment.Remove("LD_PRELOAD");
        using Process process = Process.Start(start)!;
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        string stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return process.ExitCode == 0
            ? stdout
            : throw new InvalidOperationException($"{file} {string.Join(' ', arguments)} exited with {process.ExitCode}: {stderr.Result}");
    }

    private static string? FindOnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin").Split(':')
        .Select(dir => Path.Join(dir, name))
        .FirstOrDefault(File.Exists);

    [GeneratedRegex(@"\[Requesting program interpreter: (.*)\]")]
    private static partial Regex InterpreterLine();

    [GeneratedRegex(@"\(NEEDED\)\s+Shared library: \[(.*)\]")]
    private static partial Regex NeededLine();

    [GeneratedRegex(@"\(SONAME\)\s+Library soname: \[(.*)\]")]
    private static partial Regex SonameLine();

    [GeneratedRegex(@"\(RUNPATH\)\s+Library runpath: \[(.*)\]")]
    private static partial Regex RunpathLine();

    [GeneratedRegex(@"\(RPATH\)\s+Library rpath: \[(.*)\]")]
    private static partial Regex RpathLine();

    [GeneratedRegex(@"^\s*(\S+) => (\S+) \(0x", RegexOptions.Multiline)]
    private static partial Regex LdSoListLine();
}
