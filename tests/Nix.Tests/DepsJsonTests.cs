using System.Text.Json;
using System.Text.RegularExpressions;
using AutoReview.TestInfrastructure;
using Shouldly;
using Xunit;

namespace AutoReview.Nix.Tests;

/// <summary>nix/deps.json, the flake's nugetDeps: generated from the locked restore by nix/update-deps.sh, and current.</summary>
[Trait("Category", "Nix")]
public sealed partial class DepsJsonTests : IDisposable
{
    private readonly TemporaryDirectory _work = new("ar-nix-deps-");

    public void Dispose() => _work.Dispose();

    private static string DepsJson => Path.Combine(Tools.RepositoryRoot, "nix", "deps.json");

    [SkippableFact]
    public void DepsJson_IsWhatUpdateDepsWritesFromTheLockedRestore()
    {
        HostTools.Require("jq", "openssl");
        string regenerated = _work.Combine("deps.json");
        CommandResult update = Commands.Run("/bin/bash", [Path.Combine(Tools.RepositoryRoot, "nix", "update-deps.sh"), regenerated], TimeSpan.FromMinutes(2));
        update.ExitCode.ShouldBe(0, update.ToString());
        File.ReadAllText(regenerated).ShouldBe(File.ReadAllText(DepsJson),
            "nix/deps.json is not current: run nix/update-deps.sh (after ./build.sh and dotnet restore AutoReview.sln) and commit the result");
    }

    [Fact]
    public void DepsJson_HasAnSriSha256ForEveryPackageOfEveryLockFile_AndTheNativeAotPacks()
    {
        using JsonDocument deps = JsonDocument.Parse(File.ReadAllText(DepsJson));
        var entries = deps.RootElement.EnumerateArray().Select(e => (
            Name: e.GetProperty("pname").GetString()!, Version: e.GetProperty("version").GetString()!, Hash: e.GetProperty("hash").GetString()!)).ToList();
        entries.ShouldAllBe(e => SriSha256().IsMatch(e.Hash));
        var listed = entries.Select(e => $"{e.Name.ToLowerInvariant()}/{e.Version}").ToHashSet();
        listed.Count.ShouldBe(entries.Count, "each package once");

        var locked = new SortedSet<string>(StringComparer.Ordinal);
        foreach (string lockFile in Directory.EnumerateFiles(Tools.RepositoryRoot, "packages.lock.json", SearchOption.AllDirectories)
                     .Where(f => !f.Contains("/bin/") && !f.Contains("/obj/")))
        {
            using JsonDocument document = JsonDocument.Parse(File.ReadAllText(lockFile));
            foreach (JsonProperty target in document.RootElement.GetProperty("dependencies").EnumerateObject())
            foreach (JsonProperty package in target.Value.EnumerateObject())
                if (package.Value.GetProperty("type").GetString() != "Project")
                    locked.Add($"{package.Name.ToLowerInvariant()}/{package.Value.GetProperty("resolved").GetString()}");
        }
        locked.ShouldNotBeEmpty();
        locked.Where(p => !listed.Contains(p)).ShouldBeEmpty("locked packages missing from nix/deps.json: run nix/update-deps.sh");
        // What `dotnet publish -r linux-x64 -p:PublishAot=true` downloads beside the lock files.
        listed.ShouldContain(p => p.StartsWith("runtime.linux-x64.microsoft.dotnet.ilcompiler/"));
        listed.ShouldContain(p => p.StartsWith("microsoft.netcore.app.runtime.nativeaot.linux-x64/"));
    }

    [GeneratedRegex("^sha256-[A-Za-z0-9+/]{43}=$")]
    private static partial Regex SriSha256();
}
