using AutoReview.TestInfrastructure;
using System.Diagnostics;
using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using System.Runtime.Versioning;
using System.Text.Json;
using AutoReview.Bundle.Oci;
using Shouldly;
using Xunit;

namespace AutoReview.Bundle.Tests.Oci;

/// <summary>
/// The exported image must be the embedded rootfs, nothing else: these tests follow index.json to the manifest, config
/// and layer and check every digest against the bytes, then hand the layout to skopeo and umoci, the tools the image is
/// published and unpacked with, so "valid" means what real tools accept rather than what this writer believes.
/// </summary>
public sealed class OciImageLayoutTests : IDisposable
{
    private const string ToolsMissing = " not installed (.ci/run installs it: apt-get install skopeo umoci)";

    // A whole second: the build passes SOURCE_DATE_EPOCH, which has no fraction.
    private static readonly DateTimeOffset Created = new(2024, 5, 6, 7, 8, 9, TimeSpan.Zero);

    /// <summary>The layer's files as the test writes them; umoci's unpack must give back exactly these bytes.</summary>
    private static readonly (string Path, string Content, UnixFileMode Mode)[] LayerFiles =
    [
        ("etc/greeting", "hello from the embedded layer\n", UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead),
        ("usr/bin/tool", "#!/bin/sh\necho 'tool ran'\n", UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
                                                            | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute),
    ];

    private readonly string _work = Directory.CreateTempSubdirectory("oci-layout-test-").FullName;
    private readonly RootfsSpec _spec = RootfsSpec.Load(Path.Combine(Tools.RepositoryRoot, "src", "Bundle", "rootfs-spec.json"));
    private readonly Layer _layer;

    public OciImageLayoutTests() => _layer = MakeLayer(Path.Combine(_work, "layer.tar.gz"));

    public void Dispose() => Directory.Delete(_work, recursive: true);

    private sealed record Layer(string Path, string Digest, string DiffId, long Size);

    // ---- structure: index.json -> manifest -> config -> layer --------------------------------------------------------

    [Fact]
    public void Index_PointsToManifest_ThatPointsToConfigAndTheOneLayer()
    {
        string dir = Write("image");
        OciImageResult result = OciImageLayout.Write(Path.Combine(_work, "again"), _layer.Path, _layer.Digest, _layer.DiffId, _spec, Created);

        using JsonDocument layout = ReadJson(Path.Combine(dir, "oci-layout"));
        layout.RootElement.GetProperty("imageLayoutVersion").GetString().ShouldBe("1.0.0");

        using JsonDocument index = ReadJson(Path.Combine(dir, "index.json"));
        index.RootElement.GetProperty("schemaVersion").GetInt32().ShouldBe(2);
        index.RootElement.GetProperty("mediaType").GetString().ShouldBe("application/vnd.oci.image.index.v1+json");
        JsonElement[] manifests = [.. index.RootElement.GetProperty("manifests").EnumerateArray()];
        manifests.Length.ShouldBe(1);
        JsonElement manifestDescriptor = manifests[0];
        manifestDescriptor.GetProperty("mediaType").GetString().ShouldBe("application/vnd.oci.image.manifest.v1+json");
        manifestDescriptor.GetProperty("digest").GetString().ShouldBe(result.ManifestDigest);
        manifestDescriptor.GetProperty("annotations").GetProperty("org.opencontainers.image.ref.name").GetString().ShouldBe("latest");
        manifestDescriptor.GetProperty("platform").GetProperty("architecture").GetString().ShouldBe("amd64");
        manifestDescriptor.GetProperty("platform").GetProperty("os").GetString().ShouldBe("linux");
        JsonElement manifest = ReadDescribedBlob(dir, manifestDescriptor);

        manifest.GetProperty("schemaVersion").GetInt32().ShouldBe(2);
        manifest.GetProperty("mediaType").GetString().ShouldBe("application/vnd.oci.image.manifest.v1+json");
        JsonElement configDescriptor = manifest.GetProperty("config");
        configDescriptor.GetProperty("mediaType").GetString().ShouldBe("application/vnd.oci.image.config.v1+json");
        configDescriptor.GetProperty("digest").GetString().ShouldBe(result.ConfigDigest);
        JsonElement config = ReadDescribedBlob(dir, configDescriptor);

        JsonElement[] layers = [.. manifest.GetProperty("layers").EnumerateArray()];
        layers.Length.ShouldBe(1);
        layers[0].GetProperty("mediaType").GetString().ShouldBe("application/vnd.oci.image.layer.v1.tar+gzip");
        layers[0].GetProperty("digest").GetString().ShouldBe(_layer.Digest);
        layers[0].GetProperty("size").GetInt64().ShouldBe(_layer.Size);
        result.LayerDigest.ShouldBe(_layer.Digest);

        config.GetProperty("architecture").GetString().ShouldBe("amd64");
        config.GetProperty("os").GetString().ShouldBe("linux");
        config.GetProperty("created").GetString().ShouldBe("2024-05-06T07:08:09Z");
        config.GetProperty("rootfs").GetProperty("type").GetString().ShouldBe("layers");
        Strings(config.GetProperty("rootfs").GetProperty("diff_ids")).ShouldBe([_layer.DiffId]);
        config.GetProperty("history").GetArrayLength().ShouldBe(1, "one history entry per layer");
    }

    [Fact]
    public void LayerBlob_IsTheEmbeddedPayloadByteForByte()
    {
        string dir = Write("image");
        string blob = Path.Combine(dir, "blobs", "sha256", _layer.Digest["sha256:".Length..]);
        File.ReadAllBytes(blob).ShouldBe(File.ReadAllBytes(_layer.Path));
    }

    [Fact]
    public void EveryBlob_IsNamedByTheSha256OfItsBytes_AndNothingElseIsLeftInBlobs()
    {
        string dir = Write("image");
        string[] blobs = Directory.GetFileSystemEntries(Path.Combine(dir, "blobs", "sha256"));
        blobs.Length.ShouldBe(3, "layer, config, manifest; no temporary file may be left behind");
        foreach (string blob in blobs)
            Sha256Hex(File.ReadAllBytes(blob)).ShouldBe(Path.GetFileName(blob));
        Directory.GetFileSystemEntries(dir).Select(Path.GetFileName).Order(StringComparer.Ordinal).ShouldBe(["blobs", "index.json", "oci-layout"]);
    }

    [Fact]
    public void ImageConfig_RunsTheProcessAsTheSpecSays()
    {
        string dir = Write("image");
        JsonElement config = ReadConfig(dir).GetProperty("config");

        config.GetProperty("User").GetString().ShouldBe($"{_spec.User.Uid}:{_spec.User.Gid}");
        config.GetProperty("User").GetString().ShouldBe("65532:65532");
        Strings(config.GetProperty("Env")).ShouldBe(_spec.Config.Env);
        Strings(config.GetProperty("Entrypoint")).ShouldBe(_spec.Config.Entrypoint);
        config.GetProperty("WorkingDir").GetString().ShouldBe(_spec.Config.Cwd);
        config.TryGetProperty("Cmd", out _).ShouldBeFalse("the entrypoint alone is the command; a Cmd would append arguments");
        JsonElement labels = config.GetProperty("Labels");
        labels.GetProperty("org.opencontainers.image.title").GetString().ShouldBe("auto-review");
        labels.GetProperty("org.opencontainers.image.created").GetString().ShouldBe("2024-05-06T07:08:09Z");
    }

    [Fact]
    public void VersionLabel_IsWrittenWhenGiven()
    {
        string dir = Path.Combine(_work, "versioned");
        OciImageLayout.Write(dir, _layer.Path, _layer.Digest, _layer.DiffId, _spec, Created, version: "1.2.3");
        ReadConfig(dir).GetProperty("config").GetProperty("Labels").GetProperty("org.opencontainers.image.version").GetString().ShouldBe("1.2.3");
    }

    [Fact]
    public void UserString_IsNumericUidColonGid()
    {
        (_spec with { User = new SpecUser("someone", 1000, 100, "/home/someone") }).UserString().ShouldBe("1000:100");
        Should.Throw<BundleException>(() => (_spec with { User = new SpecUser("bad", -1, 0, "/") }).UserString());
    }

    // ---- determinism ----------------------------------------------------------------------------------------------------

    [Fact]
    public void SameInputs_GiveByteIdenticalLayouts()
    {
        OciImageResult first = OciImageLayout.Write(Path.Combine(_work, "one"), _layer.Path, _layer.Digest, _layer.DiffId, _spec, Created);
        OciImageResult second = OciImageLayout.Write(Path.Combine(_work, "two"), _layer.Path, _layer.Digest, _layer.DiffId, _spec, Created);

        second.ShouldBe(first);
        string[] files = RelativeFiles(Path.Combine(_work, "one"));
        RelativeFiles(Path.Combine(_work, "two")).ShouldBe(files);
        foreach (string file in files)
            File.ReadAllBytes(Path.Combine(_work, "two", file)).ShouldBe(File.ReadAllBytes(Path.Combine(_work, "one", file)), file);
    }

    [Fact]
    public void CreationTime_IsTheOnlyClockInTheImage()
    {
        OciImageResult first = OciImageLayout.Write(Path.Combine(_work, "one"), _layer.Path, _layer.Digest, _layer.DiffId, _spec, Created);
        OciImageResult later = OciImageLayout.Write(Path.Combine(_work, "two"), _layer.Path, _layer.Digest, _layer.DiffId, _spec, Created.AddSeconds(1));
        later.ConfigDigest.ShouldNotBe(first.ConfigDigest);
        later.LayerDigest.ShouldBe(first.LayerDigest);
    }

    [Fact]
    public void Json_IsCompactUtf8_WithoutBom_AndMediaTypesUnescaped()
    {
        string dir = Write("image");
        foreach (string file in RelativeFiles(dir).Where(f => f != LayerBlobRelative()))
        {
            byte[] bytes = File.ReadAllBytes(Path.Combine(dir, file));
            bytes[0].ShouldBe((byte)'{', $"{file} must start with '{{' (no BOM, no whitespace)");
            // Re-writing the parsed document compactly, escaping only what JSON requires, must give the same bytes:
            // no insignificant whitespace and no needless escapes such as \u002B for the '+' in media types.
            using JsonDocument document = JsonDocument.Parse(bytes);
            var compact = new MemoryStream();
            using (var writer = new Utf8JsonWriter(compact, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
                document.WriteTo(writer);
            Encoding.UTF8.GetString(bytes).ShouldBe(Encoding.UTF8.GetString(compact.ToArray()), file);
        }
        File.ReadAllText(Path.Combine(dir, "oci-layout")).ShouldBe("""{"imageLayoutVersion":"1.0.0"}""");
    }

    [Fact]
    public void Rfc3339_KeepsAFractionOnlyWhenThereIsOne()
    {
        OciImageLayout.Rfc3339(Created).ShouldBe("2024-05-06T07:08:09Z");
        OciImageLayout.Rfc3339(Created.AddMilliseconds(250)).ShouldBe("2024-05-06T07:08:09.25Z");
        OciImageLayout.Rfc3339(new DateTimeOffset(2024, 5, 6, 9, 8, 9, TimeSpan.FromHours(2))).ShouldBe("2024-05-06T07:08:09Z");
    }

    // ---- refusals -------------------------------------------------------------------------------------------------------

    [Fact]
    public void NonEmptyDirectory_IsRefused_AndLeftAsItWas()
    {
        string dir = Directory.CreateDirectory(Path.Combine(_work, "occupied")).FullName;
        File.WriteAllText(Path.Combine(dir, "index.json"), "someone else's image");

        var e = Should.Throw<BundleException>(() => OciImageLayout.Write(dir, _layer.Path, _layer.Digest, _layer.DiffId, _spec, Created));
        e.Message.ShouldContain("not empty");
        Directory.GetFileSystemEntries(dir).Select(Path.GetFileName).ShouldBe(["index.json"]);
        File.ReadAllText(Path.Combine(dir, "index.json")).ShouldBe("someone else's image");
    }

    [Fact]
    public void ExistingEmptyDirectory_IsUsed()
    {
        string dir = Directory.CreateDirectory(Path.Combine(_work, "empty")).FullName;
        OciImageLayout.Write(dir, _layer.Path, _layer.Digest, _layer.DiffId, _spec, Created);
        File.Exists(Path.Combine(dir, "index.json")).ShouldBeTrue();
    }

    [Fact]
    public void PathThatIsAFile_IsRefused()
    {
        string file = Path.Combine(_work, "a-file");
        File.WriteAllText(file, "x");
        Should.Throw<BundleException>(() => OciImageLayout.Write(file, _layer.Path, _layer.Digest, _layer.DiffId, _spec, Created))
            .Message.ShouldContain("not a directory");
    }

    [Fact]
    public void LayerDigestMismatch_Throws_AndLeavesNoLayout()
    {
        string wrong = "sha256:" + new string('0', 64);
        string dir = Path.Combine(_work, "image");

        var e = Should.Throw<BundleException>(() => OciImageLayout.Write(dir, _layer.Path, wrong, _layer.DiffId, _spec, Created));
        e.Message.ShouldContain(_layer.Digest);
        e.Message.ShouldContain(wrong);
        Directory.Exists(dir).ShouldBeFalse("a directory this call created is removed on failure");
    }

    [Fact]
    public void LayerDigestMismatch_InAnExistingEmptyDirectory_LeavesItEmpty()
    {
        string dir = Directory.CreateDirectory(Path.Combine(_work, "empty")).FullName;
        Should.Throw<BundleException>(() => OciImageLayout.Write(dir, _layer.Path, "sha256:" + new string('f', 64), _layer.DiffId, _spec, Created));
        Directory.Exists(dir).ShouldBeTrue("the caller's directory stays");
        Directory.GetFileSystemEntries(dir).ShouldBeEmpty();
    }

    [Fact]
    public void DiffIdMismatch_Throws_AndLeavesNoLayout()
    {
        // A diff_id that is the compressed digest: the easiest mix-up, which unpackers would reject later.
        string dir = Path.Combine(_work, "image");
        var e = Should.Throw<BundleException>(() => OciImageLayout.Write(dir, _layer.Path, _layer.Digest, _layer.Digest, _spec, Created));
        e.Message.ShouldContain("diff_id");
        e.Message.ShouldContain(_layer.DiffId);
        Directory.Exists(dir).ShouldBeFalse();
    }

    [Fact]
    public void UncompressedTarAsLayer_IsRefused()
    {
        // A plain tar would be published under the tar+gzip media type and fail in every puller.
        string tar = Path.Combine(_work, "plain.tar");
        using (var gz = new GZipStream(File.OpenRead(_layer.Path), CompressionMode.Decompress))
        using (FileStream output = File.Create(tar))
            gz.CopyTo(output);
        string digest = "sha256:" + Sha256Hex(File.ReadAllBytes(tar));

        Should.Throw<BundleException>(() => OciImageLayout.Write(Path.Combine(_work, "image"), tar, digest, _layer.DiffId, _spec, Created))
            .Message.ShouldContain("not gzip");
        Directory.Exists(Path.Combine(_work, "image")).ShouldBeFalse();
    }

    [Fact]
    public void MissingLayerBlob_IsABundleError()
    {
        Should.Throw<BundleException>(() => OciImageLayout.Write(Path.Combine(_work, "image"), Path.Combine(_work, "nope.tar.gz"),
            _layer.Digest, _layer.DiffId, _spec, Created)).Message.ShouldContain("not found");
        Directory.Exists(Path.Combine(_work, "image")).ShouldBeFalse();
    }

    [Theory]
    [InlineData("")]
    [InlineData("has space")]
    [InlineData("-leading")]
    [InlineData("trailing.")]
    [InlineData("a//b")]
    [InlineData("a---b")]
    public void InvalidRefName_IsRefused_BeforeAnythingIsWritten(string refName)
    {
        string dir = Path.Combine(_work, "image");
        Should.Throw<BundleException>(() => OciImageLayout.Write(dir, _layer.Path, _layer.Digest, _layer.DiffId, _spec, Created, refName));
        Directory.Exists(dir).ShouldBeFalse();
    }

    [Theory]
    [InlineData("latest")]
    [InlineData("1.2.3")]
    [InlineData("example.com/auto-review:1.2.3")]
    [InlineData("v1--rc+build@x")]
    public void ValidRefName_IsWrittenAsTheRefNameAnnotation(string refName)
    {
        string dir = Path.Combine(_work, "image");
        OciImageLayout.Write(dir, _layer.Path, _layer.Digest, _layer.DiffId, _spec, Created, refName);
        using JsonDocument index = ReadJson(Path.Combine(dir, "index.json"));
        index.RootElement.GetProperty("manifests")[0].GetProperty("annotations").GetProperty("org.opencontainers.image.ref.name").GetString().ShouldBe(refName);
    }

    [Theory]
    [InlineData("sha256:ABCDEF")]
    [InlineData("sha512:0000000000000000000000000000000000000000000000000000000000000000")]
    [InlineData("0000000000000000000000000000000000000000000000000000000000000000")]
    [InlineData("sha256:000000000000000000000000000000000000000000000000000000000000000G")]
    public void MalformedDigest_IsRefused(string digest)
    {
        Should.Throw<BundleException>(() => OciImageLayout.Write(Path.Combine(_work, "a"), _layer.Path, digest, _layer.DiffId, _spec, Created));
        Should.Throw<BundleException>(() => OciImageLayout.Write(Path.Combine(_work, "b"), _layer.Path, _layer.Digest, digest, _spec, Created));
        Directory.Exists(Path.Combine(_work, "a")).ShouldBeFalse();
    }

    [Fact]
    public void RelativeWorkingDir_IsRefused()
    {
        RootfsSpec spec = _spec with { Config = _spec.Config with { Cwd = "work" } };
        Should.Throw<BundleException>(() => OciImageLayout.Write(Path.Combine(_work, "image"), _layer.Path, _layer.Digest, _layer.DiffId, spec, Created))
            .Message.ShouldContain("cwd");
    }

    // ---- real tools -----------------------------------------------------------------------------------------------------

    [SkippableFact]
    public void Skopeo_Inspect_ReportsTheManifestLayerAndEnv()
    {
        Skip.If(Tools.FindOnPath("skopeo") is null, "skopeo" + ToolsMissing);
        string dir = Write("image");
        OciImageResult result = OciImageLayout.Write(Path.Combine(_work, "same"), _layer.Path, _layer.Digest, _layer.DiffId, _spec, Created);

        using JsonDocument inspect = JsonDocument.Parse(Tools.Run("skopeo", "inspect", $"oci:{dir}:latest"));
        JsonElement root = inspect.RootElement;
        root.GetProperty("Digest").GetString().ShouldBe(result.ManifestDigest);
        Strings(root.GetProperty("Layers")).ShouldBe([_layer.Digest]);
        root.GetProperty("Architecture").GetString().ShouldBe("amd64");
        root.GetProperty("Os").GetString().ShouldBe("linux");
        root.GetProperty("Created").GetString().ShouldBe("2024-05-06T07:08:09Z");
        Strings(root.GetProperty("Env")).ShouldBe(_spec.Config.Env);
        root.GetProperty("Labels").GetProperty("org.opencontainers.image.title").GetString().ShouldBe("auto-review");
    }

    [SkippableFact]
    public void Skopeo_InspectConfig_ReportsUserEnvEntrypointAndWorkdir()
    {
        Skip.If(Tools.FindOnPath("skopeo") is null, "skopeo" + ToolsMissing);
        string dir = Write("image");

        using JsonDocument inspect = JsonDocument.Parse(Tools.Run("skopeo", "inspect", "--config", $"oci:{dir}:latest"));
        JsonElement config = inspect.RootElement.GetProperty("config");
        config.GetProperty("User").GetString().ShouldBe("65532:65532");
        Strings(config.GetProperty("Env")).ShouldBe(_spec.Config.Env);
        Strings(config.GetProperty("Entrypoint")).ShouldBe(_spec.Config.Entrypoint);
        config.GetProperty("WorkingDir").GetString().ShouldBe(_spec.Config.Cwd);
        Strings(inspect.RootElement.GetProperty("rootfs").GetProperty("diff_ids")).ShouldBe([_layer.DiffId]);

        // --raw --config hands back the stored bytes: they must be exactly the blob the manifest names.
        string raw = Tools.Run("skopeo", "inspect", "--raw", "--config", $"oci:{dir}:latest");
        raw.ShouldBe(File.ReadAllText(Path.Combine(dir, "blobs", "sha256", ReadManifest(dir).GetProperty("config").GetProperty("digest").GetString()!["sha256:".Length..])));
    }

    [SkippableFact]
    public void Skopeo_Copy_CarriesTheLayerBlobUnchanged()
    {
        // What publishing does: skopeo reads the layout and writes another transport. The layer must arrive as the same
        // blob (skopeo recompresses nothing when the media types already fit), or the image would drift from the payload.
        Skip.If(Tools.FindOnPath("skopeo") is null, "skopeo" + ToolsMissing);
        string dir = Write("image");
        string copy = Path.Combine(_work, "copy");
        string policy = Path.Combine(_work, "policy.json");
        // Our own policy, not /etc/containers/policy.json: the test must not depend on the host's trust settings.
        File.WriteAllText(policy, """{"default":[{"type":"insecureAcceptAnything"}]}""");

        Tools.Run("skopeo", "--policy", policy, "copy", "--preserve-digests", $"oci:{dir}:latest", $"oci:{copy}:copied");

        using JsonDocument inspect = JsonDocument.Parse(Tools.Run("skopeo", "inspect", $"oci:{copy}:copied"));
        Strings(inspect.RootElement.GetProperty("Layers")).ShouldBe([_layer.Digest]);
        File.ReadAllBytes(Path.Combine(copy, LayerBlobRelative())).ShouldBe(File.ReadAllBytes(_layer.Path));
    }

    [SkippableFact]
    [SupportedOSPlatform("linux")] // file modes are read back; auto-review and umoci are Linux-only anyway
    public void Umoci_UnpacksRootless_ToTheLayersFilesAndTheSpecsProcess()
    {
        Skip.If(Tools.FindOnPath("umoci") is null, "umoci" + ToolsMissing);
        string dir = Write("image");
        string bundle = Path.Combine(_work, "bundle");

        Tools.Run("umoci", "unpack", "--rootless", "--image", $"{dir}:latest", bundle);

        string rootfs = Path.Combine(bundle, "rootfs");
        foreach ((string path, string content, UnixFileMode mode) in LayerFiles)
        {
            string unpacked = Path.Combine(rootfs, path);
            File.ReadAllText(unpacked).ShouldBe(content, path);
            File.GetUnixFileMode(unpacked).ShouldBe(mode, path);
        }
        File.ResolveLinkTarget(Path.Combine(rootfs, "usr", "bin", "tool-link"), returnFinalTarget: false)!.FullName
            .ShouldBe(Path.Combine(rootfs, "usr", "bin", "tool"));

        using JsonDocument runtimeConfig = ReadJson(Path.Combine(bundle, "config.json"));
        JsonElement process = runtimeConfig.RootElement.GetProperty("process");
        process.GetProperty("user").GetProperty("uid").GetInt32().ShouldBe(_spec.User.Uid);
        process.GetProperty("user").GetProperty("gid").GetInt32().ShouldBe(_spec.User.Gid);
        Strings(process.GetProperty("args")).ShouldBe(_spec.Config.Entrypoint);
        // umoci's runtime-spec template adds TERM=xterm of its own (not from the image); everything else is the image's.
        Strings(process.GetProperty("env")).Where(e => e != "TERM=xterm").ShouldBe(_spec.Config.Env);
        process.GetProperty("cwd").GetString().ShouldBe(_spec.Config.Cwd);
    }

    // ---- helpers --------------------------------------------------------------------------------------------------------

    private string Write(string name)
    {
        string dir = Path.Combine(_work, name);
        OciImageLayout.Write(dir, _layer.Path, _layer.Digest, _layer.DiffId, _spec, Created);
        return dir;
    }

    private string LayerBlobRelative() => Path.Combine("blobs", "sha256", _layer.Digest["sha256:".Length..]);

    /// <summary>A small gzip'd tar with directories, two files and a symlink; digests computed here, independently.</summary>
    private static Layer MakeLayer(string path)
    {
        var mtime = new DateTimeOffset(2024, 1, 1, 0, 0, 0, TimeSpan.Zero);
        var tar = new MemoryStream();
        using (var writer = new TarWriter(tar, TarEntryFormat.Ustar, leaveOpen: true))
        {
            foreach (string directory in new[] { "etc/", "usr/", "usr/bin/" })
            {
                writer.WriteEntry(new UstarTarEntry(TarEntryType.Directory, directory)
                {
                    Mode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead
                           | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute,
                    ModificationTime = mtime,
                });
            }
            foreach ((string name, string content, UnixFileMode mode) in LayerFiles)
            {
                writer.WriteEntry(new UstarTarEntry(TarEntryType.RegularFile, name)
                {
                    Mode = mode,
                    ModificationTime = mtime,
                    DataStream = new MemoryStream(Encoding.UTF8.GetBytes(content)),
                });
            }
            writer.WriteEntry(new UstarTarEntry(TarEntryType.SymbolicLink, "usr/bin/tool-link") { LinkName = "tool", ModificationTime = mtime });
        }
        byte[] uncompressed = tar.ToArray();

        using (FileStream file = File.Create(path))
        using (var gzip = new GZipStream(file, CompressionLevel.Optimal))
            gzip.Write(uncompressed);
        byte[] compressed = File.ReadAllBytes(path);
        return new Layer(path, "sha256:" + Sha256Hex(compressed), "sha256:" + Sha256Hex(uncompressed), compressed.Length);
    }

    /// <summary>Reads the blob a descriptor names and checks the descriptor's digest and size against its bytes.</summary>
    private static JsonElement ReadDescribedBlob(string layout, JsonElement descriptor)
    {
        string digest = descriptor.GetProperty("digest").GetString()!;
        digest.ShouldStartWith("sha256:");
        byte[] bytes = File.ReadAllBytes(Path.Combine(layout, "blobs", "sha256", digest["sha256:".Length..]));
        ("sha256:" + Sha256Hex(bytes)).ShouldBe(digest);
        descriptor.GetProperty("size").GetInt64().ShouldBe(bytes.LongLength);
        return JsonDocument.Parse(bytes).RootElement.Clone();
    }

    private static JsonElement ReadManifest(string layout)
    {
        using JsonDocument index = ReadJson(Path.Combine(layout, "index.json"));
        return ReadDescribedBlob(layout, index.RootElement.GetProperty("manifests")[0]);
    }

    private static JsonElement ReadConfig(string layout) => ReadDescribedBlob(layout, ReadManifest(layout).GetProperty("config"));

    private static JsonDocument ReadJson(string path) => JsonDocument.Parse(File.ReadAllBytes(path));

    private static string[] Strings(JsonElement array) => [.. array.EnumerateArray().Select(e => e.GetString()!)];

    private static string Sha256Hex(byte[] bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));

    private static string[] RelativeFiles(string root) =>
        [.. Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(root, f)).Order(StringComparer.Ordinal)];

}
