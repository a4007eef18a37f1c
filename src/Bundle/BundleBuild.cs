using AutoReview.Bundle.Layer;

namespace AutoReview.Bundle;

/// <summary>Builds the layer blob and its manifest from a rootfs spec: the one builder for ./build.sh and Nix.</summary>
public static class BundleBuild
{
    /// <summary>
    /// Writes the gzip layer to <paramref name="layerOutput"/> (through a temporary file and a rename) and
    /// returns its manifest. Same spec, same sysroot contents and same <paramref name="created"/> give the
    /// same bytes, whatever the directory or the time of the build.
    /// </summary>
    public static BundleManifest Run(RootfsSpec spec, string sysroot, DateTimeOffset created, string layerOutput)
    {
        IReadOnlyList<LayerEntry> entries = RootfsBuilder.BuildEntries(spec, sysroot);
        string temporary = $"{layerOutput}.tmp-{Environment.ProcessId}";
        try
        {
            LayerDigests digests;
            using (var output = new FileStream(temporary, FileMode.Create, FileAccess.Write))
            {
                digests = LayerWriter.Write(entries.ToList(), output, created);
                output.Flush(flushToDisk: true);
            }
            File.Move(temporary, layerOutput, overwrite: true);
            return new BundleManifest
            {
                SchemaVersion = BundleManifest.CurrentSchema,
                LayerDigest = digests.LayerDigest,
                DiffId = digests.DiffId,
                CompressedSize = digests.CompressedSize,
                UncompressedSize = digests.UncompressedSize,
                Created = created,
                Spec = spec,
                Files = RootfsBuilder.Describe(entries),
            };
        }
        finally
        {
            File.Delete(temporary);
        }
    }
}
