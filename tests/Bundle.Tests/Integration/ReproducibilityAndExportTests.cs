using System.Security.Cryptography;
using System.Text.Json;
using AutoReview.TestInfrastructure;
using Shouldly;
using Xunit;

namespace AutoReview.Bundle.Tests.Integration;

[Trait("Category", "Bundle")]
public sealed class ReproducibilityAndExportTests : IDisposable
{
    private readonly TemporaryDirectory _work = new("ar-repro-");

    public void Dispose() => _work.Dispose();

    private static string Spec => Path.Combine(Tools.RepositoryRoot, "src", "Bundle", "rootfs-spec.json");

    private CommandResult BuildLayer(string directory, long epoch)
    {
        Directory.CreateDirectory(directory);
        var start = Commands.Run(AutoReviewBinary.Path, ["bundle", "build", "--spec", Spec, "--source-date-epoch", epoch.ToString(),
            "--layer-out", Path.Combine(directory, "layer.tar.gz"), "--manifest-out", Path.Combine(directory, "manifest.json")]);
        start.ExitCode.ShouldBe(0, start.ToString());
        return start;
    }

    [Fact]
    public void TwoBuilds_FromDifferentDirectoriesAtDifferentTimes_AreByteIdentical()
    {
        BuildLayer(_work.Combine("first"), 1_700_000_000);
        Thread.Sleep(1100);
        BuildLayer(_work.Combine("second", "elsewhere"), 1_700_000_000);

        byte[] first = File.ReadAllBytes(_work.Combine("first", "layer.tar.gz"));
        byte[] second = File.ReadAllBytes(_work.Combine("second", "elsewhere", "layer.tar.gz"));
        SHA256.HashData(second).ShouldBe(SHA256.HashData(first));
        File.ReadAllText(_work.Combine("second", "elsewhere", "manifest.json")).ShouldBe(File.ReadAllText(_work.Combine("first", "manifest.json")));
    }

    [Fact]
    public void TheEmbeddedLayer_IsReproducedByARebuildWithItsTimestamp()
    {
        CommandResult info = Commands.AutoReview("bundle", "info", "--json");
        using JsonDocument doc = JsonDocument.Parse(info.Stdout);
        long epoch = doc.RootElement.GetProperty("created").GetDateTimeOffset().ToUnixTimeSeconds();
        BuildLayer(_work.Path, epoch);
        using JsonDocument manifest = JsonDocument.Parse(File.ReadAllText(_work.Combine("manifest.json")));
        manifest.RootElement.GetProperty("layerDigest").GetString().ShouldBe(EmbeddedInfo.LayerDigest);
    }

    [Fact]
    public void OciLayout_CarriesTheEmbeddedLayerBlob_ByteForByte()
    {
        string layout = _work.Combine("oci");
        CommandResult export = Commands.AutoReview("bundle", "export", "--oci-layout", layout);
        export.ExitCode.ShouldBe(0, export.ToString());

        using JsonDocument index = JsonDocument.Parse(File.ReadAllText(Path.Combine(layout, "index.json")));
        string manifestDigest = index.RootElement.GetProperty("manifests")[0].GetProperty("digest").GetString()!;
        using JsonDocument manifest = JsonDocument.Parse(File.ReadAllText(Blob(layout, manifestDigest)));
        var layers = manifest.RootElement.GetProperty("layers").EnumerateArray().Select(l => l.GetProperty("digest").GetString()!).ToList();
        layers.Count.ShouldBe(2, "the rootfs layer, then the executable");
        layers[0].ShouldBe(EmbeddedInfo.LayerDigest);
        ("sha256:" + Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(Blob(layout, layers[0]))))).ShouldBe(EmbeddedInfo.LayerDigest);
    }

    [SkippableFact]
    public void OciLayout_IsAcceptedBySkopeoAndUmoci_AndRunsAsTheBundleUser()
    {
        Skip.If(!File.Exists("/usr/bin/skopeo") || !File.Exists("/usr/bin/umoci"), "skopeo/umoci not installed (.ci/run installs them: apt-get install skopeo umoci)");
        string layout = _work.Combine("oci");
        Commands.AutoReview("bundle", "export", "--oci-layout", layout).ExitCode.ShouldBe(0);

        CommandResult inspect = Commands.Run("/usr/bin/skopeo", ["inspect", $"oci:{layout}:latest"]);
        inspect.ExitCode.ShouldBe(0, inspect.ToString());
        using JsonDocument image = JsonDocument.Parse(inspect.Stdout);
        image.RootElement.GetProperty("Layers")[0].GetString().ShouldBe(EmbeddedInfo.LayerDigest);

        CommandResult config = Commands.Run("/usr/bin/skopeo", ["inspect", "--config", $"oci:{layout}:latest"]);
        using JsonDocument configDoc = JsonDocument.Parse(config.Stdout);
        configDoc.RootElement.GetProperty("config").GetProperty("User").GetString().ShouldBe("65532:65532");

        string unpacked = _work.Combine("unpacked");
        CommandResult umoci = Commands.Run("/usr/bin/umoci", ["unpack", "--rootless", "--image", $"{layout}:latest", unpacked]);
        umoci.ExitCode.ShouldBe(0, umoci.ToString());
        File.Exists(Path.Combine(unpacked, "rootfs", "usr", "bin", "git")).ShouldBeTrue();
        new FileInfo(Path.Combine(unpacked, "rootfs", "usr", "bin", "auto-review")).Length.ShouldBeGreaterThan(1_000_000, "the image carries the executable");
    }

    [Fact]
    public void RuntimeBundle_ConfigStatesWhatTheLauncherApplies()
    {
        string bundle = _work.Combine("runtime");
        Commands.AutoReview("bundle", "export", "--runtime-bundle", bundle).ExitCode.ShouldBe(0);
        using JsonDocument config = JsonDocument.Parse(File.ReadAllText(Path.Combine(bundle, "config.json")));
        JsonElement root = config.RootElement;
        root.GetProperty("root").GetProperty("readonly").GetBoolean().ShouldBeTrue();
        root.GetProperty("process").GetProperty("noNewPrivileges").GetBoolean().ShouldBeTrue();
        root.GetProperty("process").GetProperty("capabilities").EnumerateObject().ShouldAllBe(set => set.Value.GetArrayLength() == 0);
        root.GetProperty("linux").GetProperty("namespaces").EnumerateArray().Select(n => n.GetProperty("type").GetString())
            .ShouldBe(["user", "mount", "pid", "ipc", "uts", "cgroup", "network"], ignoreOrder: true);
        var tmpfs = root.GetProperty("mounts").EnumerateArray().Where(m => m.GetProperty("type").GetString() == "tmpfs")
            .Select(m => m.GetProperty("destination").GetString()).ToList();
        new[] { "/tmp", "/var/lib/auto_review", "/work" }.ShouldBeSubsetOf(tmpfs);
        root.GetProperty("linux").GetProperty("seccomp").GetProperty("syscalls").EnumerateArray()
            .SelectMany(r => r.GetProperty("names").EnumerateArray().Select(n => n.GetString())).ShouldContain("mount");
        File.Exists(Path.Combine(bundle, "rootfs", "usr", "bin", "git")).ShouldBeTrue();
    }

    [Theory]
    [InlineData("--oci-layout")]
    [InlineData("--runtime-bundle")]
    public void ExportIntoANonEmptyDirectory_IsRefusedWithItsPath_AndNoStackTrace(string option)
    {
        string target = _work.Combine("occupied");
        Directory.CreateDirectory(target);
        File.WriteAllText(Path.Combine(target, "keep.txt"), "precious");

        CommandResult result = Commands.AutoReview("bundle", "export", option, target);
        result.ExitCode.ShouldBe(125, result.ToString());
        result.Stderr.ShouldContain(target);
        result.Stderr.ShouldNotContain("   at ");
        Directory.EnumerateFileSystemEntries(target).Select(Path.GetFileName).ShouldBe(["keep.txt"]);
        File.ReadAllText(Path.Combine(target, "keep.txt")).ShouldBe("precious");
    }

    [Fact]
    public void ExportWithBothOrNeitherTarget_IsAUsageError()
    {
        Commands.AutoReview("bundle", "export").ExitCode.ShouldBe(2);
        Commands.AutoReview("bundle", "export", "--oci-layout", _work.Combine("a"), "--runtime-bundle", _work.Combine("b")).ExitCode.ShouldBe(2);
    }

    private static string Blob(string layout, string digest) => Path.Combine(layout, "blobs", "sha256", digest["sha256:".Length..]);
}
