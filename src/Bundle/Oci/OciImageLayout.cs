using System.Buffers;
using System.Globalization;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace AutoReview.Bundle.Oci;

/// <summary>The digests of what <see cref="OciImageLayout.Write"/> wrote, each "sha256:&lt;hex&gt;".</summary>
public sealed record OciImageResult(string ManifestDigest, string ConfigDigest, string LayerDigest);

/// <summary>A further gzip layer stacked on the rootfs layer (the executable itself, for a runnable image).</summary>
public sealed record OciExtraLayer(string BlobPath, string Digest, string DiffId, string CreatedBy, string Comment);

/// <summary>
/// Writes an OCI image layout (image-spec v1: oci-layout, index.json, blobs/sha256/) holding one image whose only
/// layer is the embedded rootfs payload itself. The layer is copied byte for byte and checked against its digest,
/// so the published image and the rootfs that auto-review runs in are one blob and cannot drift apart.
/// </summary>
/// <remarks>
/// All JSON is written by hand with <see cref="Utf8JsonWriter"/> in a fixed property order, compact, UTF-8 without a BOM:
/// the same inputs give the same bytes and so the same config and manifest digests (the image is reproducible, and a
/// rebuild can be checked against a published digest). A serializer would tie the bytes to its settings and, here,
/// need reflection that NativeAOT does not allow.
/// </remarks>
public static partial class OciImageLayout
{
    public const string LayoutVersion = "1.0.0";
    public const string IndexMediaType = "application/vnd.oci.image.index.v1+json";
    public const string ManifestMediaType = "application/vnd.oci.image.manifest.v1+json";
    public const string ConfigMediaType = "application/vnd.oci.image.config.v1+json";
    public const string LayerMediaType = "application/vnd.oci.image.layer.v1.tar+gzip";
    public const string RefNameAnnotation = "org.opencontainers.image.ref.name";

    // The payload is built for, and the launcher only runs on, Linux x86-64 (GOARCH/GOOS spelling, as the spec asks).
    public const string Architecture = "amd64";
    public const string OperatingSystem = "linux";

    private const string Sha256Prefix = "sha256:";

    /// <summary>
    /// Writes the layout into <paramref name="directory"/>, which must not exist or be empty.
    /// On any failure nothing is left behind: the directory is removed if this call created it, emptied otherwise.
    /// </summary>
    /// <param name="layerBlobPath">The compressed layer (gzip of a tar), exactly as embedded.</param>
    /// <param name="layerDigest">"sha256:&lt;hex&gt;" of the compressed bytes; checked while copying.</param>
    /// <param name="diffId">"sha256:&lt;hex&gt;" of the uncompressed tar; checked by decompressing the copy.</param>
    /// <param name="created">The image's creation time; pass the build's SOURCE_DATE_EPOCH to keep digests reproducible.</param>
    /// <param name="refName">The tag that tools address the image by (oci:DIR:refName).</param>
    /// <param name="version">auto-review's version for the org.opencontainers.image.version label, if known.</param>
    /// <param name="extraLayers">Layers stacked on top of the rootfs layer, in order.</param>
    public static OciImageResult Write(string directory, string layerBlobPath, string layerDigest, string diffId, RootfsSpec spec,
        DateTimeOffset created, string refName = "latest", string? version = null, IReadOnlyList<OciExtraLayer>? extraLayers = null)
    {
        extraLayers ??= [];
        ArgumentNullException.ThrowIfNull(directory);
        ArgumentNullException.ThrowIfNull(layerBlobPath);
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(refName);
        // Every argument is checked before the directory is touched, so a bad call leaves nothing to clean up.
        RequireSha256Digest(layerDigest, "layer digest");
        RequireSha256Digest(diffId, "layer diff_id");
        foreach (OciExtraLayer extra in extraLayers)
        {
            RequireSha256Digest(extra.Digest, "extra layer digest");
            RequireSha256Digest(extra.DiffId, "extra layer diff_id");
        }
        if (!RefNameGrammar().IsMatch(refName))
            throw new BundleException($"OCI ref name '{refName}' is not valid: it must be components of letters and digits joined by one of - . _ : @ + or --, separated by / (image-spec annotations, org.opencontainers.image.ref.name)");
        RequireRunnableConfig(spec);

        bool createdDirectory = PrepareEmptyDirectory(directory);
        try
        {
            string blobs = Path.Combine(directory, "blobs", "sha256");
            Directory.CreateDirectory(blobs);

            // The layer first: if it does not match its digests, no config or manifest ever names it.
            var layer = new Descriptor(LayerMediaType, layerDigest, CopyVerifiedLayer(layerBlobPath, layerDigest, diffId, blobs));
            List<Descriptor> layers = [layer, .. extraLayers.Select(extra =>
                new Descriptor(LayerMediaType, extra.Digest, CopyVerifiedLayer(extra.BlobPath, extra.Digest, extra.DiffId, blobs)))];
            Descriptor config = WriteBlob(blobs, ConfigMediaType, ImageConfigJson(spec, diffId, created, version, extraLayers));
            Descriptor manifest = WriteBlob(blobs, ManifestMediaType, ManifestJson(config, layers));

            File.WriteAllBytes(Path.Combine(directory, "oci-layout"), Json(w =>
            {
                w.WriteStartObject();
                w.WriteString("imageLayoutVersion", LayoutVersion);
                w.WriteEndObject();
            }));
            // index.json last: it is what makes the directory an image layout, so a process killed before this line
            // leaves a directory that no tool mistakes for an image.
            File.WriteAllBytes(Path.Combine(directory, "index.json"), IndexJson(manifest, refName));

            return new OciImageResult(manifest.Digest, config.Digest, layer.Digest);
        }
        catch (Exception e)
        {
            RemoveWhatWasWritten(directory, createdDirectory);
            if (e is IOException or UnauthorizedAccessException)
                throw new BundleException($"writing OCI image layout {directory}: {e.Message}", e);
            throw;
        }
    }

    private sealed record Descriptor(string MediaType, string Digest, long Size);

    /// <summary>Creates the directory, or accepts an existing empty one; returns whether it was created here.</summary>
    private static bool PrepareEmptyDirectory(string directory)
    {
        if (File.Exists(directory))
            throw new BundleException($"{directory}: exists and is not a directory; the OCI image layout needs an empty or new directory");
        try
        {
            if (Directory.Exists(directory))
            {
                // Refused rather than merged: blobs or an index.json already there would mix another image into this one.
                if (Directory.EnumerateFileSystemEntries(directory).Any())
                    throw new BundleException($"{directory}: directory is not empty; the OCI image layout is written only into an empty or new directory");
                return false;
            }
            Directory.CreateDirectory(directory);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new BundleException($"{directory}: cannot use it for the OCI image layout: {e.Message}", e);
        }
    }

    private static void RemoveWhatWasWritten(string directory, bool createdDirectory)
    {
        // Best effort: a failure here must not hide the error that got us here.
        try
        {
            if (createdDirectory)
            {
                Directory.Delete(directory, recursive: true);
                return;
            }
            // The directory was empty when we started, so everything in it is ours.
            var dir = new DirectoryInfo(directory);
            foreach (FileSystemInfo entry in dir.EnumerateFileSystemInfos())
            {
                if (entry is DirectoryInfo sub && sub.LinkTarget is null)
                    sub.Delete(recursive: true);
                else
                    entry.Delete();
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }

    /// <summary>
    /// Copies the layer into blobs/sha256/ while hashing it, then hashes the decompressed copy; returns its size.
    /// Both digests are checked so that neither descriptor nor diff_id can disagree with the bytes: a wrong digest makes
    /// pulls fail, and a wrong diff_id makes unpackers (umoci, containerd, docker load) reject the image.
    /// </summary>
    private static long CopyVerifiedLayer(string source, string expectedDigest, string expectedDiffId, string blobs)
    {
        // Written under a name that is not a digest and renamed once verified, so that even a killed process never
        // leaves a blob whose name claims a digest its bytes do not have.
        string partial = Path.Combine(blobs, ".layer.partial");
        long size = 0;
        string actualDigest;
        try
        {
            using var input = new FileStream(source, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1, FileOptions.SequentialScan);
            using var output = new FileStream(partial, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 1);
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            byte[] buffer = ArrayPool<byte>.Shared.Rent(1 << 20);
            try
            {
                int read;
                while ((read = input.Read(buffer, 0, buffer.Length)) > 0)
                {
                    hash.AppendData(buffer, 0, read);
                    output.Write(buffer, 0, read);
                    size += read;
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
            actualDigest = Sha256Prefix + Convert.ToHexStringLower(hash.GetHashAndReset());
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new BundleException($"layer blob {source}: not found", e);
        }

        if (actualDigest != expectedDigest)
            throw new BundleException($"layer blob {source}: its sha256 is {actualDigest} but the layer digest given is {expectedDigest}; the payload and its recorded digest disagree, so no image was written");

        string actualDiffId;
        try
        {
            using var compressed = new FileStream(partial, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1 << 16, FileOptions.SequentialScan);
            using var tar = new GZipStream(compressed, CompressionMode.Decompress);
            actualDiffId = Sha256Prefix + Convert.ToHexStringLower(SHA256.HashData(tar));
        }
        catch (InvalidDataException e)
        {
            throw new BundleException($"layer blob {source}: is not gzip data ({e.Message}); the layer's media type is {LayerMediaType}", e);
        }
        if (actualDiffId != expectedDiffId)
            throw new BundleException($"layer blob {source}: its uncompressed sha256 is {actualDiffId} but the diff_id given is {expectedDiffId}; unpackers would reject the image, so none was written");

        File.Move(partial, Path.Combine(blobs, expectedDigest[Sha256Prefix.Length..]));
        return size;
    }

    /// <summary>Stores <paramref name="content"/> under its own digest; the digest is of exactly these bytes.</summary>
    private static Descriptor WriteBlob(string blobs, string mediaType, byte[] content)
    {
        string hex = Convert.ToHexStringLower(SHA256.HashData(content));
        File.WriteAllBytes(Path.Combine(blobs, hex), content);
        return new Descriptor(mediaType, Sha256Prefix + hex, content.LongLength);
    }

    private static byte[] ImageConfigJson(RootfsSpec spec, string diffId, DateTimeOffset created, string? version, IReadOnlyList<OciExtraLayer> extraLayers)
    {
        string timestamp = Rfc3339(created);
        return Json(w =>
        {
            w.WriteStartObject();
            w.WriteString("created", timestamp);
            w.WriteString("architecture", Architecture);
            w.WriteString("os", OperatingSystem);

            w.WriteStartObject("config");
            // The same user, environment, command and directory as the runtime bundle's config.json: both come from
            // rootfs-spec.json's config, so `docker run` of the image and `auto-review` run the process alike.
            w.WriteString("User", spec.UserString());
            WriteStrings(w, "Env", spec.Config.Env);
            WriteStrings(w, "Entrypoint", spec.Config.Entrypoint);
            w.WriteString("WorkingDir", spec.Config.Cwd);
            w.WriteStartObject("Labels");
            foreach ((string key, string value) in Labels(timestamp, version))
                w.WriteString(key, value);
            w.WriteEndObject();
            w.WriteEndObject();

            w.WriteStartObject("rootfs");
            w.WriteString("type", "layers");
            WriteStrings(w, "diff_ids", [diffId, .. extraLayers.Select(extra => extra.DiffId)]);
            w.WriteEndObject();

            // One history entry per layer, so tools that pair history with layers (docker history) show its origin.
            w.WriteStartArray("history");
            w.WriteStartObject();
            w.WriteString("created", timestamp);
            w.WriteString("created_by", "auto-review: embedded rootfs (src/Bundle/rootfs-spec.json)");
            w.WriteString("comment", "the rootfs layer embedded in the auto-review executable, byte for byte");
            w.WriteEndObject();
            foreach (OciExtraLayer extra in extraLayers)
            {
                w.WriteStartObject();
                w.WriteString("created", timestamp);
                w.WriteString("created_by", extra.CreatedBy);
                w.WriteString("comment", extra.Comment);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        });
    }

    /// <summary>The org.opencontainers.image.* labels, in a fixed (ordinal) order.</summary>
    private static IEnumerable<(string Key, string Value)> Labels(string timestamp, string? version)
    {
        yield return ("org.opencontainers.image.created", timestamp);
        yield return ("org.opencontainers.image.description", "The minimal rootfs that auto-review runs reviews in: the layer embedded in the auto-review executable, byte for byte");
        yield return ("org.opencontainers.image.title", "auto-review");
        if (!string.IsNullOrEmpty(version))
            yield return ("org.opencontainers.image.version", version);
    }

    private static byte[] ManifestJson(Descriptor config, IReadOnlyList<Descriptor> layers) => Json(w =>
    {
        w.WriteStartObject();
        w.WriteNumber("schemaVersion", 2);
        w.WriteString("mediaType", ManifestMediaType);
        w.WritePropertyName("config");
        WriteDescriptor(w, config);
        w.WriteStartArray("layers");
        foreach (Descriptor layer in layers)
            WriteDescriptor(w, layer);
        w.WriteEndArray();
        w.WriteEndObject();
    });

    private static byte[] IndexJson(Descriptor manifest, string refName) => Json(w =>
    {
        w.WriteStartObject();
        w.WriteNumber("schemaVersion", 2);
        w.WriteString("mediaType", IndexMediaType);
        w.WriteStartArray("manifests");
        w.WriteStartObject();
        w.WriteString("mediaType", manifest.MediaType);
        w.WriteString("digest", manifest.Digest);
        w.WriteNumber("size", manifest.Size);
        // The platform lets multi-platform tooling (skopeo --override-arch, docker buildx imagetools) pick the image
        // from the index without fetching the config.
        w.WriteStartObject("platform");
        w.WriteString("architecture", Architecture);
        w.WriteString("os", OperatingSystem);
        w.WriteEndObject();
        w.WriteStartObject("annotations");
        w.WriteString(RefNameAnnotation, refName);
        w.WriteEndObject();
        w.WriteEndObject();
        w.WriteEndArray();
        w.WriteEndObject();
    });

    private static void WriteDescriptor(Utf8JsonWriter w, Descriptor descriptor)
    {
        w.WriteStartObject();
        w.WriteString("mediaType", descriptor.MediaType);
        w.WriteString("digest", descriptor.Digest);
        w.WriteNumber("size", descriptor.Size);
        w.WriteEndObject();
    }

    private static void WriteStrings(Utf8JsonWriter w, string name, IEnumerable<string> values)
    {
        w.WriteStartArray(name);
        foreach (string value in values)
            w.WriteStringValue(value);
        w.WriteEndArray();
    }

    // Compact, and escaping only what JSON requires: the default encoder would write the '+' of every media type as
    // \u002B, which is still valid but makes the blobs needlessly differ from what every other OCI tool writes.
    // "Unsafe" refers to embedding in HTML, which these files never are.
    private static readonly JsonWriterOptions WriterOptions = new() { Indented = false, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private static byte[] Json(Action<Utf8JsonWriter> write)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer, WriterOptions))
            write(writer);
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>RFC 3339 in UTC; the fraction is written only when there is one, as Go's time.RFC3339Nano does.</summary>
    internal static string Rfc3339(DateTimeOffset time) =>
        time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.FFFFFFF'Z'", CultureInfo.InvariantCulture);

    private static readonly SearchValues<char> LowerHex = SearchValues.Create("0123456789abcdef");

    // Lowercase only: the digest names the blob file, and image-spec's sha256 encoding is lowercase hex.
    private static void RequireSha256Digest(string? digest, string what)
    {
        if (digest is null || digest.Length != Sha256Prefix.Length + 64 || !digest.StartsWith(Sha256Prefix, StringComparison.Ordinal)
            || digest.AsSpan(Sha256Prefix.Length).ContainsAnyExcept(LowerHex))
            throw new BundleException($"{what} '{digest}' is not of the form sha256:<64 lowercase hex digits>");
    }

    /// <summary>
    /// Refuses a config that runtimes would reject at start (relative cwd, no command, an Env entry without '='),
    /// so the mistake shows at export and not when someone first runs the published image.
    /// </summary>
    private static void RequireRunnableConfig(RootfsSpec spec)
    {
        SpecConfig config = spec.Config;
        if (config.Entrypoint.Count == 0 || string.IsNullOrEmpty(config.Entrypoint[0]))
            throw new BundleException("rootfs spec config.entrypoint is empty; the image would have no command to run");
        if (!config.Cwd.StartsWith('/'))
            throw new BundleException($"rootfs spec config.cwd '{config.Cwd}' is not an absolute path");
        foreach (string entry in config.Env)
        {
            if (entry.IndexOf('=') <= 0)
                throw new BundleException($"rootfs spec config.env entry '{entry}' is not of the form NAME=value");
        }
        _ = spec.UserString(); // throws on a negative uid or gid
    }

    // image-spec's grammar for org.opencontainers.image.ref.name:
    //   ref ::= component ("/" component)*;  component ::= alphanum (separator alphanum)*
    //   alphanum ::= [A-Za-z0-9]+;  separator ::= [-._:@+] | "--"
    [GeneratedRegex(@"^[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*(?:/[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*)*$", RegexOptions.CultureInvariant)]
    private static partial Regex RefNameGrammar();
}

/// <summary>
/// Derivations from the rootfs spec that the OCI image config and the runtime bundle's config.json must agree on;
/// both writers call these so the image and `auto-review` run the process as the same user.
/// </summary>
internal static class SpecConfigExtensions
{
    /// <summary>
    /// The image-config User, "uid:gid". Numeric, not the name: the runtime bundle sets process.user numerically, and a
    /// name would make each runtime look it up in the image's /etc/passwd, a second source that could disagree.
    /// </summary>
    internal static string UserString(this RootfsSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        if (spec.User.Uid < 0 || spec.User.Gid < 0)
            throw new BundleException($"rootfs spec user {spec.User.Uid}:{spec.User.Gid}: uid and gid must not be negative");
        return string.Create(CultureInfo.InvariantCulture, $"{spec.User.Uid}:{spec.User.Gid}");
    }
}
