using System.Text.Json;
using System.Text.RegularExpressions;
using AutoReview.TestInfrastructure;
using Shouldly;
using Xunit;

namespace AutoReview.Nix.Tests;

/// <summary>
/// What can be known about the Nix files without nixpkgs: they parse, the flake offers the packages and checks
/// ADR 0010 promises with nixpkgs pinned to one commit, and the FHS-to-Nix mapping covers the spec.
/// </summary>
[Trait("Category", "Nix")]
public sealed partial class NixFilesTests : IDisposable
{
    private readonly NixStore _store = new();

    public void Dispose() => _store.Dispose();

    private static string Repo(params string[] parts) => Path.Combine([Tools.RepositoryRoot, .. parts]);

    /// <summary>Every .nix file of the repository, build outputs and test results left out.</summary>
    private static List<string> NixFiles()
    {
        string[] skipped = ["bin", "obj", ".git", "TestResults", "node_modules", "dist"];
        var files = new List<string>();
        var pending = new Stack<string>([Tools.RepositoryRoot]);
        while (pending.TryPop(out string? directory))
        {
            files.AddRange(Directory.EnumerateFiles(directory, "*.nix"));
            foreach (string child in Directory.EnumerateDirectories(directory))
                if (!skipped.Contains(Path.GetFileName(child)))
                    pending.Push(child);
        }
        return files.Order(StringComparer.Ordinal).ToList();
    }

    [SkippableFact]
    public void EveryNixFile_Parses()
    {
        HostTools.Require("nix-instantiate");
        List<string> files = NixFiles();
        files.ShouldContain(Repo("flake.nix"));
        files.ShouldContain(Repo("nix", "offline-bundle.nix"));

        var failures = files.Select(file => (file, result: _store.Instantiate("--parse", file)))
            .Where(r => r.result.ExitCode != 0)
            .Select(r => $"{Path.GetRelativePath(Tools.RepositoryRoot, r.file)}: {r.result.Stderr.Trim()}")
            .ToList();
        failures.ShouldBeEmpty();
    }

    [SkippableFact]
    public void Flake_OffersThePackagesAndChecksOfAdr0010_WithNixpkgsPinnedToOneCommit()
    {
        HostTools.Require("nix-instantiate");
        // nixpkgs is out of reach here: the stub throws if anything forces it. Listing the outputs must not.
        string json = _store.EvalJson($$"""
            let
              flake = import {{NixStore.PathLiteral(Repo("flake.nix"))}};
              nixpkgs = { legacyPackages.x86_64-linux = throw "nixpkgs is not available offline"; };
              self = outputs // { lastModified = 0; };
              outputs = flake.outputs { inherit self nixpkgs; };
            in {
              nixpkgs = flake.inputs.nixpkgs.url;
              packages = builtins.attrNames outputs.packages.x86_64-linux;
              checks = builtins.attrNames outputs.checks.x86_64-linux;
            }
            """);
        using JsonDocument flake = JsonDocument.Parse(json);
        Names(flake, "packages").ShouldBe(["auto-review", "bundle", "default", "oci-image", "rootfs", "sysroot"]);
        Names(flake, "checks").ShouldBe(["config", "contents", "git-exec-path", "no-shell"]);
        flake.RootElement.GetProperty("nixpkgs").GetString()!.ShouldMatch("^github:NixOS/nixpkgs/[0-9a-f]{40}$");
    }

    [Fact]
    public void FlakeLock_WhenCommitted_LocksTheCommitThatFlakeNixPins()
    {
        // flake.lock is written by `nix flake lock` where GitHub is reachable (ADR 0010); CI here cannot.
        string lockPath = Repo("flake.lock");
        if (!File.Exists(lockPath))
            return;
        string rev = PinnedNixpkgs().Match(File.ReadAllText(Repo("flake.nix"))).Groups["rev"].Value;
        using JsonDocument lockFile = JsonDocument.Parse(File.ReadAllText(lockPath));
        JsonElement locked = lockFile.RootElement.GetProperty("nodes").GetProperty("nixpkgs").GetProperty("locked");
        locked.GetProperty("rev").GetString().ShouldBe(rev);
        locked.GetProperty("narHash").GetString()!.ShouldStartWith("sha256-");
    }

    [SkippableFact]
    public void SysrootLinks_GiveEveryHostPathTheSpecReads_ANixPackageFile()
    {
        HostTools.Require("nix-instantiate");
        string links = Repo("nix", "sysroot-links.nix");
        using JsonDocument mapping = JsonDocument.Parse(_store.EvalJson(
            $"import {NixStore.PathLiteral(links)} {{ git = \"/nix/store/g-git\"; cacert = \"/nix/store/c-cacert\"; }}"));
        using JsonDocument spec = JsonDocument.Parse(File.ReadAllText(Repo("src", "Bundle", "rootfs-spec.json")));
        var read = spec.RootElement.GetProperty("executables").EnumerateArray().Select(e => e.GetString()!)
            .Concat(spec.RootElement.GetProperty("hostFiles").EnumerateArray().Select(f => f.GetProperty("from").GetString()!));

        mapping.RootElement.EnumerateArray().Select(l => l.GetProperty("path").GetString()!).ShouldBe(read);
        mapping.RootElement.EnumerateArray().Select(l => l.GetProperty("target").GetString()!)
            .ShouldAllBe(target => target.StartsWith("/nix/store/g-git/") || target.StartsWith("/nix/store/c-cacert/"));
    }

    [SkippableFact]
    public void SysrootLinks_RefuseAHostPathWithoutANixPackage_AndNameIt()
    {
        HostTools.Require("nix-instantiate");
        string links = Repo("nix", "sysroot-links.nix");
        string spec = Repo("nix", "rootfs-spec.nix");
        CommandResult result = _store.Instantiate("--eval", "--strict", "--json", "-E",
            $"let s = import {NixStore.PathLiteral(spec)}; in import {NixStore.PathLiteral(links)} " +
            "{ spec = s // { executables = s.executables ++ [ \"/usr/bin/ssh\" ]; }; git = \"/nix/store/g-git\"; cacert = \"/nix/store/c-cacert\"; }");
        result.ExitCode.ShouldNotBe(0, result.ToString());
        result.Stderr.ShouldContain("/usr/bin/ssh");
    }

    private static string[] Names(JsonDocument document, string property) =>
        document.RootElement.GetProperty(property).EnumerateArray().Select(e => e.GetString()!).ToArray();

    [GeneratedRegex("github:NixOS/nixpkgs/(?<rev>[0-9a-f]{40})")]
    private static partial Regex PinnedNixpkgs();
}
