using System.Text.Json.Nodes;
using AutoReview.TestInfrastructure;
using Shouldly;
using Xunit;

namespace AutoReview.Nix.Tests;

/// <summary>
/// nix/check-bundle.sh, the flake's checks, has teeth: each contract fails, naming the violation, on a bundle or
/// a spec that breaks it. (That they pass on the real bundle is shown by OfflineBundleTests.)
/// </summary>
[Trait("Category", "Nix")]
public sealed class CheckScriptTests : IDisposable
{
    private readonly TemporaryDirectory _work = new("ar-nix-checks-");

    public void Dispose() => _work.Dispose();

    private static string SpecPath => Path.Combine(Tools.RepositoryRoot, "src", "Bundle", "rootfs-spec.json");

    private CommandResult Check(string contract, string executable, params string[] args) =>
        Commands.Run("/bin/bash", [Path.Combine(Tools.RepositoryRoot, "nix", "check-bundle.sh"), contract, executable, .. args], TimeSpan.FromMinutes(1));

    private string Spec(Action<JsonObject> change)
    {
        JsonObject spec = JsonNode.Parse(File.ReadAllText(SpecPath))!.AsObject();
        change(spec);
        string path = _work.Combine($"spec-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, spec.ToJsonString());
        return path;
    }

    [SkippableFact]
    public void ContentsCheck_FailsWhenTheSpecNamesAFileTheBundleLacks()
    {
        HostTools.Require("jq");
        string spec = Spec(s => s["emptyFiles"]!.AsArray().Add(new JsonObject { ["path"] = "/usr/bin/missing" }));
        CommandResult result = Check("contents", AutoReviewBinary.Path, spec);
        result.ExitCode.ShouldBe(1, result.ToString());
        result.Stderr.ShouldContain("/usr/bin/missing is missing");
    }

    [SkippableFact]
    public void ConfigCheck_FailsWhenTheExportedEnvironmentIsNotTheSpecs()
    {
        HostTools.Require("jq");
        string spec = Spec(s => s["config"]!["env"]!.AsArray().Add("GIT_EXEC_PATH=/elsewhere"));
        CommandResult result = Check("config", AutoReviewBinary.Path, spec);
        result.ExitCode.ShouldBe(1, result.ToString());
        result.Stderr.ShouldContain("process.env");
    }

    [SkippableFact]
    public void NoShellCheck_FailsOnABundleWithAShell()
    {
        HostTools.Require("jq");
        Skip.If(!File.Exists("/usr/bin/dash"), "no /usr/bin/dash on this host to put into a bundle");
        string spec = Spec(s => s["executables"]!.AsArray().Add("/usr/bin/dash"));
        string executable = _work.Combine("auto-review");
        File.Copy(AutoReviewBinary.Path, executable);
        CommandResult build = Commands.Run(AutoReviewBinary.Path, ["bundle", "build", "--spec", spec, "--source-date-epoch", "0",
            "--layer-out", _work.Combine("layer.tar.gz"), "--embed-into", executable]);
        build.ExitCode.ShouldBe(0, build.ToString());

        CommandResult result = Check("no-shell", executable);
        result.ExitCode.ShouldBe(1, result.ToString());
        result.Stderr.ShouldContain("/usr/bin/dash: a shell");
    }
}
