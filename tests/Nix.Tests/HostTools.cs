using System.Diagnostics;
using AutoReview.TestInfrastructure;
using Xunit;

namespace AutoReview.Nix.Tests;

/// <summary>
/// The host tools these tests drive. A missing tool skips the test with the reason printed, except under CI
/// (CI=true), where .ci/run installs them all: there a missing tool fails, so the Nix proofs cannot silently
/// turn into skips.
/// </summary>
public static class HostTools
{
    private static readonly Dictionary<string, string> Packages = new(StringComparer.Ordinal)
    {
        ["nix-instantiate"] = "nix-bin",
        ["nix-build"] = "nix-bin",
        ["jq"] = "jq",
        ["patchelf"] = "patchelf",
        ["openssl"] = "openssl",
    };

    public static string Path(string tool) =>
        Tools.FindOnPath(tool) ?? throw new FileNotFoundException($"{tool} is not on PATH (apt-get install {Packages.GetValueOrDefault(tool, tool)})");

    /// <summary>Skips the calling test (or, under CI, fails it) unless every tool is on PATH.</summary>
    public static void Require(params string[] tools)
    {
        string[] missing = tools.Where(t => Tools.FindOnPath(t) is null).ToArray();
        if (missing.Length == 0)
            return;
        string packages = string.Join(" ", missing.Select(t => Packages.GetValueOrDefault(t, t)).Distinct());
        string reason = $"{string.Join(", ", missing)} not installed: apt-get install {packages} (.ci/run installs it)";
        if (Environment.GetEnvironmentVariable("CI") == "true")
            throw new InvalidOperationException($"CI must run the Nix tests, but {reason}");
        Skip.If(true, reason);
    }

    /// <summary>Makes a tree writable again (Nix stores are read-only) and deletes it.</summary>
    public static void DeleteTree(string path)
    {
        if (!Directory.Exists(path))
            return;
        using (Process chmod = Process.Start(new ProcessStartInfo("chmod", ["-R", "u+w", path]) { RedirectStandardError = true })!)
            chmod.WaitForExit();
        try
        {
            Directory.Delete(path, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A leftover temp directory is no test failure.
        }
    }
}
