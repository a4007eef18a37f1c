using System.Security.Cryptography;
using System.Text.Json;
using AutoReview.TestInfrastructure;
using Shouldly;
using Xunit;

namespace AutoReview.Nix.Tests;

/// <summary>
/// nix/offline-bundle.nix built once with nix-build into a throwaway store: the nixpkgs-free twin of the flake's
/// bundle, default and oci-image packages and of its checks (see that file).
/// </summary>
public sealed class OfflineBundle : IDisposable
{
    public const string SourceDateEpoch = "1700000000";

    /// <summary>The attributes of nix/offline-bundle.nix, by the names of their derivations.</summary>
    public static readonly IReadOnlyDictionary<string, string> Derivations = new Dictionary<string, string>
    {
        ["bundle"] = "auto-review-bundle-offline",
        ["default"] = "auto-review-offline",
        ["oci-image"] = "auto-review-oci-image-offline",
        ["check-contents"] = "auto-review-check-contents",
        ["check-no-shell"] = "auto-review-check-no-shell",
        ["check-config"] = "auto-review-check-config",
    };

    private readonly Lazy<IReadOnlyDictionary<string, string>> _outputs;

    public OfflineBundle() => _outputs = new Lazy<IReadOnlyDictionary<string, string>>(BuildAll);

    public NixStore Store { get; } = new();

    /// <summary>The file and its arguments: the built executable and a fixed SOURCE_DATE_EPOCH.</summary>
    public string[] Expression =>
    [
        Path.Combine(Tools.RepositoryRoot, "nix", "offline-bundle.nix"),
        "--argstr", "autoReview", Path.GetFullPath(AutoReviewBinary.Path),
        "--argstr", "sourceDateEpoch", SourceDateEpoch,
    ];

    /// <summary>Attribute name → output path; built on first use, so that a missing nix skips rather than breaks the class.</summary>
    public IReadOnlyDictionary<string, string> Outputs => _outputs.Value;

    public TimeSpan BuildTime { get; private set; }

    private IReadOnlyDictionary<string, string> BuildAll()
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        CommandResult build = Store.Build([.. Expression, .. Derivations.Keys.SelectMany(a => new[] { "-A", a })]);
        BuildTime = clock.Elapsed;
        build.ExitCode.ShouldBe(0, build.ToString());
        string[] paths = build.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        return Derivations.ToDictionary(d => d.Key, d => paths.Single(p => p.EndsWith("-" + d.Value, StringComparison.Ordinal)));
    }

    public void Dispose() => Store.Dispose();
}

[Trait("Category", "Nix")]
public sealed class OfflineBundleTests(OfflineBundle offline) : IClassFixture<OfflineBundle>, IDisposable
{
    private readonly TemporaryDirectory _work = new("ar-nix-offline-");

    public void Dispose() => _work.Dispose();

    [SkippableFact]
    public void NixBuild_RunsTheCSharpBuilder_AndTheBundlePassesTheContentsNoShellAndConfigChecks()
    {
        HostTools.Require("nix-build", "jq");
        IReadOnlyDictionary<string, string> outputs = offline.Outputs;
        File.ReadAllText(outputs["check-contents"]).ShouldStartWith("ok: contents:");
        File.ReadAllText(outputs["check-no-shell"]).ShouldStartWith("ok: no-shell:");
        File.ReadAllText(outputs["check-config"]).ShouldStartWith("ok: config:");
        Console.WriteLine($"nix-build of nix/offline-bundle.nix: {offline.BuildTime.TotalSeconds:0.0} s");
    }

    [SkippableFact]
    public void NixBuildCheck_RebuildsBundleSingleFileAndOciImage_BitForBit()
    {
        HostTools.Require("nix-build", "jq");
        _ = offline.Outputs;
        CommandResult check = offline.Store.Build([.. offline.Expression, "-A", "bundle", "-A", "default", "-A", "oci-image", "--check"]);
        check.ExitCode.ShouldBe(0, $"a rebuild differs from the first build:\n{check}");
        // One "checking outputs of '<store>/<hash>-<name>.drv'..." line per rebuilt derivation.
        var checkedDerivations = check.Stderr.Split('\n').Where(l => l.StartsWith("checking outputs of", StringComparison.Ordinal)).ToList();
        foreach (string attribute in new[] { "bundle", "default", "oci-image" })
            checkedDerivations.ShouldContain(l => l.Contains($"-{OfflineBundle.Derivations[attribute]}.drv'"), check.ToString());
    }

    [SkippableFact]
    public void NixBuildCheck_RejectsADerivationWhoseRebuildDiffers()
    {
        // The control: --check really compares, so its passing above means something.
        HostTools.Require("nix-build");
        string expression = """
            derivation {
              name = "nondeterministic"; system = "x86_64-linux"; builder = "/bin/bash";
              args = [ "-c" "read -r id < /proc/sys/kernel/random/uuid; echo $id > $out; true" ];
            }
            """;
        offline.Store.Build("-E", expression).ExitCode.ShouldBe(0);
        CommandResult check = offline.Store.Build("-E", expression, "--check");
        check.ExitCode.ShouldNotBe(0, check.ToString());
        check.Stderr.ShouldContain("may not be deterministic");
    }

    [SkippableFact]
    public void TheLayerBuiltInNix_IsByteForByteTheLayerThatBundleBuildWritesOutsideNix()
    {
        HostTools.Require("nix-build", "jq");
        string bundle = offline.Outputs["bundle"];
        CommandResult build = Commands.Run(AutoReviewBinary.Path, ["bundle", "build",
            "--spec", Path.Combine(Tools.RepositoryRoot, "src", "Bundle", "rootfs-spec.json"), "--source-date-epoch", OfflineBundle.SourceDateEpoch,
            "--layer-out", _work.Combine("layer.tar.gz"), "--manifest-out", _work.Combine("manifest.json")]);
        build.ExitCode.ShouldBe(0, build.ToString());

        Sha256(Path.Combine(bundle, "layer.tar.gz")).ShouldBe(Sha256(_work.Combine("layer.tar.gz")));
        File.ReadAllText(Path.Combine(bundle, "manifest.json")).ShouldBe(File.ReadAllText(_work.Combine("manifest.json")));
    }

    [SkippableFact]
    public void TheSingleFileAndTheOciImage_CarryTheBundlesLayer()
    {
        HostTools.Require("nix-build", "jq");
        string digest = LayerDigest(Path.Combine(offline.Outputs["bundle"], "manifest.json"));

        CommandResult info = Commands.Run(Path.Combine(offline.Outputs["default"], "bin", "auto-review"), ["bundle", "info", "--json"],
            environment: new Dictionary<string, string> { ["AUTO_REVIEW_CACHE_DIR"] = _work.Combine("cache") });
        info.ExitCode.ShouldBe(0, info.ToString());
        using (JsonDocument embedded = JsonDocument.Parse(info.Stdout))
            embedded.RootElement.GetProperty("layerDigest").GetString().ShouldBe(digest);

        string layout = offline.Outputs["oci-image"];
        using JsonDocument index = JsonDocument.Parse(File.ReadAllText(Path.Combine(layout, "index.json")));
        string manifestDigest = index.RootElement.GetProperty("manifests")[0].GetProperty("digest").GetString()!;
        using JsonDocument image = JsonDocument.Parse(File.ReadAllText(Path.Combine(layout, "blobs", "sha256", manifestDigest["sha256:".Length..])));
        image.RootElement.GetProperty("layers")[0].GetProperty("digest").GetString().ShouldBe(digest);
    }

    private static string LayerDigest(string manifest)
    {
        using JsonDocument document = JsonDocument.Parse(File.ReadAllText(manifest));
        return document.RootElement.GetProperty("layerDigest").GetString()!;
    }

    private static string Sha256(string path) => Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(path)));
}
