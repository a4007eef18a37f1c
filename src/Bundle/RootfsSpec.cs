using System.Text.Json;
using System.Text.Json.Serialization;

namespace AutoReview.Bundle;

/// <summary>
/// What the embedded rootfs holds (src/Bundle/rootfs-spec.json): the one source of truth that the C# builder
/// and the Nix build both read. Paths are absolute paths inside the rootfs.
/// </summary>
public sealed record RootfsSpec
{
    public required int SchemaVersion { get; init; }
    public required SpecUser User { get; init; }
    /// <summary>ELF executables copied from the build host; their shared-library closure comes with them.</summary>
    public required IReadOnlyList<string> Executables { get; init; }
    public IReadOnlyList<SpecLink> Links { get; init; } = [];
    /// <summary>Libraries loaded with dlopen, which no DT_NEEDED names; each comes with its own closure.</summary>
    public IReadOnlyList<SpecLibrary> DlopenLibraries { get; init; } = [];
    public IReadOnlyList<SpecHostFile> HostFiles { get; init; } = [];
    public IReadOnlyList<SpecGeneratedFile> GeneratedFiles { get; init; } = [];
    public IReadOnlyList<string> Directories { get; init; } = [];
    public IReadOnlyList<SpecEmptyFile> EmptyFiles { get; init; } = [];
    public required SpecConfig Config { get; init; }

    public static RootfsSpec Load(string path)
    {
        try
        {
            using FileStream stream = File.OpenRead(path);
            RootfsSpec spec = JsonSerializer.Deserialize(stream, SpecJsonContext.Default.RootfsSpec)
                              ?? throw new BundleException($"{path}: empty rootfs spec");
            return spec.SchemaVersion == 1 ? spec : throw new BundleException($"{path}: schemaVersion {spec.SchemaVersion} is not supported (expected 1)");
        }
        catch (JsonException e)
        {
            throw new BundleException($"{path}: invalid rootfs spec at {e.Path ?? "$"} (line {e.LineNumber + 1}): {e.Message}");
        }
    }
}

public sealed record SpecUser(string Name, int Uid, int Gid, string Home);
public sealed record SpecLink(string Path, string? HardlinkTo, string? SymlinkTo, string? Why);
public sealed record SpecLibrary(string Soname, string? Why);
public sealed record SpecHostFile(string Path, string From, string? Why);
public sealed record SpecGeneratedFile(string Path, string Content);
public sealed record SpecEmptyFile(string Path, string? Why);
public sealed record SpecMount(string Destination, string Type);

public sealed record SpecConfig
{
    public required IReadOnlyList<string> Env { get; init; }
    public required IReadOnlyList<string> Entrypoint { get; init; }
    public required string Cwd { get; init; }
    public required string Hostname { get; init; }
    public required IReadOnlyList<SpecMount> WritableMounts { get; init; }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, ReadCommentHandling = JsonCommentHandling.Skip,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Skip)]
[JsonSerializable(typeof(RootfsSpec))]
internal sealed partial class SpecJsonContext : JsonSerializerContext;
