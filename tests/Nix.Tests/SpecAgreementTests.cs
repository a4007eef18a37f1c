using System.Text.Json;
using System.Text.Json.Nodes;
using AutoReview.TestInfrastructure;
using Shouldly;
using Xunit;

namespace AutoReview.Nix.Tests;

/// <summary>
/// One source of truth: src/Bundle/rootfs-spec.json, which Nix reads with builtins.fromJSON (nix/rootfs-spec.nix)
/// and the C# builder with System.Text.Json. The C# side is taken from the built binary itself: the `spec` that
/// `auto-review bundle build --manifest-out` records is the spec exactly as the builder parsed it.
/// </summary>
[Trait("Category", "Nix")]
public sealed class SpecAgreementTests : IDisposable
{
    /// <summary>Keys that document the spec and that the C# model deliberately does not read.</summary>
    private static readonly string[] DocumentationOnly = ["comment"];

    private readonly NixStore _store = new();
    private readonly TemporaryDirectory _work = new("ar-nix-spec-");

    public void Dispose()
    {
        _store.Dispose();
        _work.Dispose();
    }

    private static string SpecPath => Path.Combine(Tools.RepositoryRoot, "src", "Bundle", "rootfs-spec.json");

    [SkippableFact]
    public void TheSpecAsNixEvaluatesIt_IsTheSpecAsTheCSharpBuilderParsesIt()
    {
        HostTools.Require("nix-instantiate");
        CommandResult nix = _store.Instantiate("--eval", "--strict", "--json", Path.Combine(Tools.RepositoryRoot, "nix", "rootfs-spec.nix"));
        nix.ExitCode.ShouldBe(0, nix.ToString());

        string asNix = Canonical(JsonNode.Parse(nix.Stdout), DocumentationOnly);
        string asCSharp = Canonical(SpecAsTheBuilderParsedIt(SpecPath), []);
        asNix.ShouldBe(asCSharp, "nix-instantiate --eval --strict --json nix/rootfs-spec.nix and the spec in the builder's manifest differ");
    }

    [SkippableFact]
    public void AFieldTheCSharpBuilderIgnores_MakesTheTwoViewsDiffer()
    {
        // The comparison has teeth: a misspelt key is read by Nix and silently skipped by System.Text.Json.
        HostTools.Require("nix-instantiate");
        JsonObject spec = JsonNode.Parse(File.ReadAllText(SpecPath))!.AsObject();
        spec["dlopenLibrary"] = new JsonArray(new JsonObject { ["soname"] = "libz.so.1" });
        string misspelt = _work.Combine("rootfs-spec.json");
        File.WriteAllText(misspelt, spec.ToJsonString());

        string asNix = Canonical(JsonNode.Parse(_store.EvalJson($"builtins.fromJSON (builtins.readFile {NixStore.PathLiteral(misspelt)})")), DocumentationOnly);
        string asCSharp = Canonical(SpecAsTheBuilderParsedIt(misspelt), []);
        asNix.ShouldNotBe(asCSharp);
        asNix.ShouldContain("dlopenLibrary\"");
        asCSharp.ShouldNotContain("dlopenLibrary\"");
    }

    /// <summary>The `spec` of the manifest that the built auto-review writes for <paramref name="specPath"/>.</summary>
    private JsonNode? SpecAsTheBuilderParsedIt(string specPath)
    {
        string directory = Directory.CreateDirectory(_work.Combine("build-" + Guid.NewGuid().ToString("N"))).FullName;
        string manifest = Path.Combine(directory, "manifest.json");
        CommandResult build = Commands.Run(AutoReviewBinary.Path, ["bundle", "build", "--spec", specPath, "--source-date-epoch", "0",
            "--layer-out", Path.Combine(directory, "layer.tar.gz"), "--manifest-out", manifest]);
        build.ExitCode.ShouldBe(0, build.ToString());
        return JsonNode.Parse(File.ReadAllText(manifest))!["spec"];
    }

    /// <summary>
    /// The JSON with object keys sorted and null members dropped (the C# side leaves absent optionals out, Nix
    /// has none), without the top-level <paramref name="ignored"/> keys, indented: equal documents print equal.
    /// </summary>
    private static string Canonical(JsonNode? node, string[] ignored)
    {
        if (node is JsonObject top)
            node = new JsonObject(top.Where(p => !ignored.Contains(p.Key)).Select(p => KeyValuePair.Create(p.Key, p.Value?.DeepClone())));
        return Sorted(node)?.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) ?? "null";

        static JsonNode? Sorted(JsonNode? n) => n switch
        {
            JsonObject o => new JsonObject(o.Where(p => p.Value is not null).OrderBy(p => p.Key, StringComparer.Ordinal)
                .Select(p => KeyValuePair.Create(p.Key, Sorted(p.Value)))),
            JsonArray a => new JsonArray(a.Select(Sorted).ToArray()),
            _ => n?.DeepClone(),
        };
    }
}
