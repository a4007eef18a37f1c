using System.Text.Json;
using AutoReview.TestInfrastructure;
using Xunit;

namespace AutoReview.Bundle.Tests.Integration;

/// <summary>A private bundle cache for one test, and the auto-review binary run against it.</summary>
public sealed class IsolatedCache : IDisposable
{
    private readonly TemporaryDirectory _directory = new("ar-cache-");

    public string Root => _directory.Path;
    public string Bundles => Path.Combine(Root, "bundles");
    public IReadOnlyDictionary<string, string> Environment => new Dictionary<string, string> { ["AUTO_REVIEW_CACHE_DIR"] = Root };

    public CommandResult Run(params string[] args) => Commands.Run(AutoReviewBinary.Path, args, TimeSpan.FromSeconds(120), Environment);

    public CommandResult RunWith(string binary, params string[] args) => Commands.Run(binary, args, TimeSpan.FromSeconds(120), Environment);

    /// <summary>Cache files are read-only; restore u+w on directories so the temporary tree can go.</summary>
    public void Dispose()
    {
        foreach (string dir in Directory.EnumerateDirectories(Root, "*", SearchOption.AllDirectories).Prepend(Root))
            File.SetUnixFileMode(dir, File.GetUnixFileMode(dir) | UnixFileMode.UserWrite);
        _directory.Dispose();
    }
}

internal static class EmbeddedInfo
{
    private static readonly Lazy<JsonDocument> Info = new(() =>
    {
        CommandResult result = Commands.AutoReview("bundle", "info", "--json");
        if (result.ExitCode != 0) throw new InvalidOperationException($"bundle info failed: {result}");
        return JsonDocument.Parse(result.Stdout);
    });

    public static string LayerDigest => Info.Value.RootElement.GetProperty("layerDigest").GetString()!;

    public static IReadOnlyList<(string Path, string Kind, string Mode)> Files =>
        Info.Value.RootElement.GetProperty("files").EnumerateArray()
            .Select(f => (f.GetProperty("path").GetString()!, f.GetProperty("kind").GetString()!, f.GetProperty("mode").GetString()!))
            .ToList();
}

/// <summary>Skips, with the reason, where this machine cannot create sandboxes (doctor says which step fails).</summary>
internal static class Sandboxes
{
    private static readonly Lazy<string?> Missing = new(() =>
    {
        CommandResult doctor = Commands.AutoReview("doctor");
        return doctor.ExitCode == 0 ? null : $"this machine cannot create sandboxes:\n{doctor.Stdout}";
    });

    public static void Require() => Skip.If(Missing.Value is not null, Missing.Value);
}
