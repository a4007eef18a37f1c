using CommandLine;

namespace AutoReview.Cli;

// Sub-verbs of `auto-review bundle`; bound by reflection, rooted by DynamicDependency in Cli.Dispatch (ADR 0002).

[Verb("info", HelpText = "Show the embedded bundle: digest, size, file count, contents, cache path and state.")]
internal sealed class BundleInfoOptions
{
    [Option("json", HelpText = "Print as JSON.")]
    public bool Json { get; set; }
}

[Verb("list", HelpText = "List the bundles in the cache, with their state and whether a sandbox uses them.")]
internal sealed class BundleListOptions
{
    [Option("json", HelpText = "Print as JSON.")]
    public bool Json { get; set; }
}

[Verb("verify", HelpText = "Check every file of the cached bundle against the manifest; rebuild it if anything differs.")]
internal sealed class BundleVerifyOptions
{
    [Option("json", HelpText = "Print as JSON.")]
    public bool Json { get; set; }
}

[Verb("prune", HelpText = "Remove cached bundles of other versions that no running sandbox holds, and leftovers of crashed unpacks.")]
internal sealed class BundlePruneOptions;

[Verb("path", HelpText = "Print the directory of the unpacked rootfs (unpacking it first if needed).")]
internal sealed class BundlePathOptions;

[Verb("export", HelpText = "Write the bundle as an OCI image layout (the same layer blob) or as an OCI runtime bundle.")]
internal sealed class BundleExportOptions
{
    [Option("oci-layout", HelpText = "Directory for an OCI image layout (index.json, blobs/); must not exist or be empty.")]
    public string? OciLayout { get; set; }

    [Option("runtime-bundle", HelpText = "Directory for an OCI runtime bundle (config.json and rootfs/); must not exist or be empty.")]
    public string? RuntimeBundle { get; set; }
}

[Verb("build", Hidden = true, HelpText = "Build the layer from a rootfs spec and embed it (used by ./build.sh and Nix).")]
internal sealed class BundleBuildOptions
{
    [Option("spec", Required = true, HelpText = "The rootfs spec (src/Bundle/rootfs-spec.json).")]
    public string Spec { get; set; } = "";

    [Option("sysroot", Default = "/", HelpText = "Where the spec's files are read from.")]
    public string Sysroot { get; set; } = "/";

    [Option("source-date-epoch", Required = true, HelpText = "The time every entry carries (seconds since 1970).")]
    public long SourceDateEpoch { get; set; }

    [Option("layer-out", Required = true, HelpText = "Where to write the gzip layer.")]
    public string LayerOut { get; set; } = "";

    [Option("manifest-out", HelpText = "Where to write the manifest JSON.")]
    public string? ManifestOut { get; set; }

    [Option("embed-into", HelpText = "An auto-review executable to append the layer and manifest to (in place).")]
    public string? EmbedInto { get; set; }
}
