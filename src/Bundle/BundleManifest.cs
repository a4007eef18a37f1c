using System.Text.Json;
using System.Text.Json.Serialization;
using AutoReview.Bundle.Layer;

namespace AutoReview.Bundle;

/// <summary>One file of the rootfs as built: what the cache is checked against.</summary>
public sealed record ManifestFile(string Path, EntryKind Kind, int Mode, long Size, string? Sha256, string? LinkTarget);

/// <summary>
/// What the embedded payload holds: the layer's digests and every entry with its size, mode, sha256 and link
/// target. Embedded beside the layer; written into each cache directory; compared on every launch (sizes) and
/// on `bundle verify` (hashes).
/// </summary>
public sealed record BundleManifest
{
    public const int CurrentSchema = 1;

    public required int SchemaVersion { get; init; }
    public required string LayerDigest { get; init; }
    public required string DiffId { get; init; }
    public required long CompressedSize { get; init; }
    public required long UncompressedSize { get; init; }
    /// <summary>The build's SOURCE_DATE_EPOCH, the mtime of every entry, as an ISO 8601 UTC time.</summary>
    public required DateTimeOffset Created { get; init; }
    public required RootfsSpec Spec { get; init; }
    public required IReadOnlyList<ManifestFile> Files { get; init; }

    /// <summary>The hex part of the layer digest: the cache directory's name.</summary>
    public string DigestHex => LayerDigest.StartsWith("sha256:", StringComparison.Ordinal) && LayerDigest.Length == 71
        ? LayerDigest[7..]
        : throw new BundleException($"manifest: layerDigest `{LayerDigest}` is not of the form sha256:<64 hex digits>");

    public byte[] ToJson() => JsonSerializer.SerializeToUtf8Bytes(this, ManifestJsonContext.Default.BundleManifest);

    public static BundleManifest FromJson(ReadOnlySpan<byte> json, string where)
    {
        try
        {
            BundleManifest manifest = JsonSerializer.Deserialize(json, ManifestJsonContext.Default.BundleManifest)
                                      ?? throw new BundleException($"{where}: empty manifest");
            if (manifest.SchemaVersion != CurrentSchema)
                throw new BundleException($"{where}: manifest schemaVersion {manifest.SchemaVersion} is not supported (expected {CurrentSchema})");
            _ = manifest.DigestHex;
            return manifest;
        }
        catch (JsonException e)
        {
            throw new BundleException($"{where}: invalid manifest at {e.Path ?? "$"}: {e.Message}");
        }
    }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = true,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull, UseStringEnumConverter = true)]
[JsonSerializable(typeof(BundleManifest))]
internal sealed partial class ManifestJsonContext : JsonSerializerContext;
