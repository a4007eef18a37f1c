using System.Text.Json;
using AutoReview.Bundle;
using AutoReview.Bundle.Layer;
using AutoReview.Bundle.Oci;

namespace AutoReview.Cli;

internal static class BundleCommands
{
    public static int Info(BundleInfoOptions options)
    {
        EmbeddedPayload payload = EmbeddedBundle.Payload();
        BundleManifest manifest = payload.Manifest;
        BundleCache cache = EmbeddedBundle.Cache();
        string directory = cache.DirectoryFor(manifest.DigestHex);
        CacheState state = cache.QuickCheck(directory, manifest).State;
        var files = manifest.Files;
        var summary = new (string Name, int Count)[]
        {
            ("executables", files.Count(f => f.Kind == EntryKind.File && (f.Mode & 0x40) != 0 && !f.Path.Contains(".so"))),
            ("shared libraries", files.Count(f => f.Path.Contains(".so"))),
            ("links", files.Count(f => f.Kind is EntryKind.Hardlink or EntryKind.Symlink)),
            ("other files", files.Count(f => f.Kind == EntryKind.File && (f.Mode & 0x40) == 0 && !f.Path.Contains(".so"))),
            ("directories", files.Count(f => f.Kind == EntryKind.Directory)),
        };
        if (options.Json)
        {
            using Utf8JsonWriter json = Json();
            json.WriteStartObject();
            json.WriteString("layerDigest", manifest.LayerDigest);
            json.WriteString("diffId", manifest.DiffId);
            json.WriteNumber("compressedSize", manifest.CompressedSize);
            json.WriteNumber("uncompressedSize", manifest.UncompressedSize);
            json.WriteNumber("entries", files.Count);
            json.WriteString("created", manifest.Created);
            json.WriteStartObject("contents");
            foreach ((string name, int count) in summary) json.WriteNumber(name, count);
            json.WriteEndObject();
            json.WriteStartArray("files");
            foreach (ManifestFile file in files)
            {
                json.WriteStartObject();
                json.WriteString("path", "/" + file.Path);
                json.WriteString("kind", file.Kind.ToString().ToLowerInvariant());
                json.WriteString("mode", Convert.ToString(file.Mode, 8).PadLeft(4, '0'));
                json.WriteNumber("size", file.Size);
                if (file.LinkTarget is not null) json.WriteString("linkTarget", file.LinkTarget);
                json.WriteEndObject();
            }
            json.WriteEndArray();
            json.WriteString("cacheDirectory", directory);
            json.WriteString("cacheState", state.ToString().ToLowerInvariant());
            json.WriteEndObject();
        }
        else
        {
            Console.WriteLine($"layer digest   {manifest.LayerDigest}");
            Console.WriteLine($"diff id        {manifest.DiffId}");
            Console.WriteLine($"size           {manifest.CompressedSize:N0} bytes compressed, {manifest.UncompressedSize:N0} bytes unpacked");
            Console.WriteLine($"entries        {files.Count} ({string.Join(", ", summary.Select(s => $"{s.Count} {s.Name}"))})");
            Console.WriteLine($"created        {manifest.Created:u}");
            Console.WriteLine($"cache          {directory} ({state.ToString().ToLowerInvariant()})");
        }
        return ExitCodes.Ok;
    }

    public static int List(BundleListOptions options)
    {
        BundleCache cache = EmbeddedBundle.Cache();
        string? current = EmbeddedPayload.Read(EmbeddedBundle.Executable)?.Manifest.DigestHex;
        IReadOnlyList<CachedBundle> bundles = cache.List();
        if (options.Json)
        {
            using Utf8JsonWriter json = Json();
            json.WriteStartArray();
            foreach (CachedBundle bundle in bundles)
            {
                json.WriteStartObject();
                json.WriteString("digest", "sha256:" + bundle.DigestHex);
                json.WriteString("directory", bundle.Directory);
                json.WriteString("state", bundle.State.ToString().ToLowerInvariant());
                json.WriteNumber("bytes", bundle.Bytes);
                json.WriteBoolean("inUse", bundle.InUse);
                json.WriteBoolean("current", bundle.DigestHex == current);
                json.WriteEndObject();
            }
            json.WriteEndArray();
        }
        else
        {
            if (bundles.Count == 0) Console.WriteLine($"no bundles in {cache.BundlesDirectory}");
            foreach (CachedBundle bundle in bundles)
                Console.WriteLine($"sha256:{bundle.DigestHex}  {bundle.State.ToString().ToLowerInvariant(),-7} {bundle.Bytes / 1024,8} KiB" +
                                  $"{(bundle.InUse ? "  in use" : "")}{(bundle.DigestHex == current ? "  current" : "")}");
        }
        return ExitCodes.Ok;
    }

    public static int Verify(BundleVerifyOptions options)
    {
        EmbeddedPayload payload = EmbeddedBundle.Payload();
        BundleCache cache = EmbeddedBundle.Cache();
        string directory = cache.DirectoryFor(payload.Manifest.DigestHex);
        (VerifyResult result, bool repaired) = cache.VerifyAndRepair(payload);
        if (options.Json)
        {
            using Utf8JsonWriter json = Json();
            json.WriteStartObject();
            json.WriteString("directory", directory);
            json.WriteString("state", result.State.ToString().ToLowerInvariant());
            json.WriteStartArray("problems");
            foreach (string problem in result.Problems) json.WriteStringValue(problem);
            json.WriteEndArray();
            json.WriteBoolean("rebuilt", repaired);
            json.WriteEndObject();
        }
        else if (result.State == CacheState.Ready)
            Console.WriteLine($"ok: {directory} matches the embedded manifest ({payload.Manifest.Files.Count} entries)");
        else
        {
            foreach (string problem in result.Problems) Console.Error.WriteLine($"auto-review: {directory}: {problem}");
            Console.Error.WriteLine(result.State == CacheState.Missing
                ? $"auto-review: the bundle was not unpacked yet; unpacked it into {directory}"
                : $"auto-review: the cached bundle was broken; {(repaired ? "rebuilt it from the embedded payload" : "rebuilding it failed")}");
        }
        return result.State == CacheState.Broken ? ExitCodes.Findings : ExitCodes.Ok;
    }

    public static int Prune(BundlePruneOptions _)
    {
        BundleCache cache = EmbeddedBundle.Cache();
        PruneResult result = cache.Prune(EmbeddedPayload.Read(EmbeddedBundle.Executable)?.Manifest.DigestHex);
        foreach (string removed in result.Removed) Console.WriteLine($"removed {removed}");
        foreach (string kept in result.KeptInUse) Console.WriteLine($"kept {kept} (in use by a running sandbox)");
        if (result.Removed.Count == 0 && result.KeptInUse.Count == 0) Console.WriteLine("nothing to prune");
        return ExitCodes.Ok;
    }

    public static int Path(BundlePathOptions _)
    {
        using BundleLease lease = EmbeddedBundle.Acquire();
        Console.WriteLine(lease.RootFs);
        return ExitCodes.Ok;
    }

    public static int Export(BundleExportOptions options)
    {
        if ((options.OciLayout is null) == (options.RuntimeBundle is null))
            throw new UsageException("bundle export: give exactly one of --oci-layout DIR or --runtime-bundle DIR");
        EmbeddedPayload payload = EmbeddedBundle.Payload();
        BundleManifest manifest = payload.Manifest;
        if (options.OciLayout is { } layoutDirectory)
        {
            string work = Directory.CreateTempSubdirectory("auto-review-export-").FullName;
            try
            {
                string blob = System.IO.Path.Combine(work, "rootfs.tar.gz");
                using (Stream layer = payload.OpenLayer())
                using (var file = new FileStream(blob, FileMode.CreateNew, FileAccess.Write))
                    layer.CopyTo(file);
                OciExtraLayer executableLayer = ExecutableLayer(payload, work, manifest.Created);
                OciImageResult result = OciImageLayout.Write(System.IO.Path.GetFullPath(layoutDirectory), blob, manifest.LayerDigest, manifest.DiffId,
                    manifest.Spec, manifest.Created, extraLayers: [executableLayer]);
                Console.WriteLine($"wrote OCI image layout {layoutDirectory}: manifest {result.ManifestDigest}, rootfs layer {result.LayerDigest} " +
                                  $"(the embedded one), executable layer {executableLayer.Digest}");
            }
            finally
            {
                Directory.Delete(work, recursive: true);
            }
        }
        else
        {
            string bundleDirectory = System.IO.Path.GetFullPath(options.RuntimeBundle!);
            RuntimeBundle.Write(bundleDirectory, payload);
            Console.WriteLine($"wrote OCI runtime bundle {bundleDirectory} (config.json, rootfs/)");
        }
        return ExitCodes.Ok;
    }

    public static int Build(BundleBuildOptions options)
    {
        RootfsSpec spec = RootfsSpec.Load(options.Spec);
        DateTimeOffset created = DateTimeOffset.FromUnixTimeSeconds(options.SourceDateEpoch);
        BundleManifest manifest = BundleBuild.Run(spec, options.Sysroot, created, options.LayerOut);
        if (options.ManifestOut is { } manifestOut)
            File.WriteAllBytes(manifestOut, manifest.ToJson());
        if (options.EmbedInto is { } executable)
            EmbeddedPayload.Embed(executable, options.LayerOut, manifest, executable);
        Console.WriteLine($"layer {manifest.LayerDigest} ({manifest.CompressedSize:N0} bytes, {manifest.Files.Count} entries)" +
                          (options.EmbedInto is null ? "" : $", embedded into {options.EmbedInto}"));
        return ExitCodes.Ok;
    }

    /// <summary>
    /// The image's second layer (ADR 0009): this executable at /usr/bin/auto-review, without its payload, since
    /// inside the image it is the inner gateway and needs no rootfs of its own.
    /// </summary>
    private static OciExtraLayer ExecutableLayer(EmbeddedPayload payload, string work, DateTimeOffset created)
    {
        string binary = System.IO.Path.Combine(work, "auto-review");
        using (var source = new FileStream(payload.Executable, FileMode.Open, FileAccess.Read))
        using (var target = new FileStream(binary, FileMode.CreateNew, FileAccess.Write))
        {
            var buffer = new byte[1 << 16];
            for (long left = payload.LayerOffset; left > 0;)
            {
                int n = source.Read(buffer, 0, (int)Math.Min(buffer.Length, left));
                if (n == 0) throw new BundleException($"{payload.Executable}: shorter than its trailer says");
                target.Write(buffer, 0, n);
                left -= n;
            }
        }
        LayerEntry[] entries =
        [
            new("usr", EntryKind.Directory, 0x1ed),
            new("usr/bin", EntryKind.Directory, 0x1ed),
            new("usr/bin/auto-review", EntryKind.File, 0x1ed, SourcePath: binary),
        ];
        string blob = System.IO.Path.Combine(work, "executable.tar.gz");
        LayerDigests digests;
        using (var output = new FileStream(blob, FileMode.CreateNew, FileAccess.Write))
            digests = LayerWriter.Write(entries, output, created);
        return new OciExtraLayer(blob, digests.LayerDigest, digests.DiffId, "auto-review: the executable at /usr/bin/auto-review",
            "the auto-review executable without its embedded payload");
    }

    private static Utf8JsonWriter Json() => new(Console.OpenStandardOutput(), new JsonWriterOptions { Indented = true });
}
