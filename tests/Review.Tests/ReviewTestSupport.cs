using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using AutoReview.TestInfrastructure;
using Shouldly;
using Xunit;

namespace AutoReview.Review.Tests;

/// <summary>
/// Runs the real binary (or a wrapper such as unshare) with an environment built from scratch: only PATH, HOME,
/// TMPDIR and the cache location are taken from this process, so no LLM_*, token or proxy variable of the machine
/// running the tests reaches auto-review unless a test passes it.
/// </summary>
internal static class Run
{
    /// <summary>A hang guard only (the run is killed and the test fails); no test asserts on durations.</summary>
    private static readonly TimeSpan HangGuard = TimeSpan.FromMinutes(3);

    private static readonly string[] Inherited = ["PATH", "HOME", "TMPDIR", "XDG_CACHE_HOME", "AUTO_REVIEW_CACHE_DIR"];

    public static CommandResult AutoReview(params string[] args) => Program(AutoReviewBinary.Path, args);

    public static CommandResult AutoReview(IEnumerable<string> args, string? workingDirectory = null, IReadOnlyDictionary<string, string>? environment = null) =>
        Program(AutoReviewBinary.Path, args, workingDirectory, environment);

    public static CommandResult Program(string file, IEnumerable<string> args, string? workingDirectory = null,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        var exact = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string name in Inherited)
        {
            if (Environment.GetEnvironmentVariable(name) is { Length: > 0 } value)
                exact[name] = value;
        }
        exact.TryAdd("PATH", "/usr/bin:/bin");
        foreach ((string name, string value) in environment ?? new Dictionary<string, string>())
            exact[name] = value;
        ProcessResult result = ProcessRunner.RunAsync(file, args, exact, workingDirectory, HangGuard).GetAwaiter().GetResult();
        return new CommandResult(result.ExitCode, result.Stdout, result.Stderr);
    }
}

/// <summary>
/// Skips, with the reason, where this machine cannot create the sandbox: `sandbox run -- /usr/bin/git --version` is tried
/// once; exit 125 with the launcher's fail-closed diagnosis (user namespaces disabled, /proc masked, a seccomp
/// profile, …) is a property of the machine. Any other failure of that run is a failure, not a skip.
/// </summary>
internal static class Sandboxes
{
    private const string FailClosedLine = "did not run anything unsandboxed";

    private static readonly Lazy<string?> Missing = new(() =>
    {
        CommandResult result = Run.AutoReview("sandbox", "run", "--", "/usr/bin/git", "--version");
        if (result.ExitCode == 0)
            return null;
        if (result.ExitCode == 125 && result.Stderr.Contains(FailClosedLine, StringComparison.Ordinal))
            return $"this machine cannot create the sandbox (auto-review sandbox run -- /usr/bin/git --version):\n{result.Stderr}";
        throw new InvalidOperationException($"the sandbox capability check failed unexpectedly: {result}");
    });

    public static void Require() => Skip.If(Missing.Value is not null, Missing.Value);

    public static void RequireTool(string tool) => Skip.If(!File.Exists(tool), $"{tool} is not installed here (.ci/run installs it)");
}

/// <summary>One finding as a report shows it.</summary>
internal sealed record ReportedFinding(string Rule, string Path, int Line, string Level, string Message)
{
    /// <summary>The identity tests compare: the message is checked separately where it matters.</summary>
    public (string Rule, string Path, int Line, string Level) Key => (Rule, Path, Line, Level);
}

internal static class Reports
{
    /// <summary>SARIF 2.1.0: version, runs[0].results (ruleId, level, message.text, the first location's uri and
    /// startLine) and the invocation's notifications.</summary>
    public static (string Version, IReadOnlyList<ReportedFinding> Results, IReadOnlyList<string> Notes) ParseSarif(string text)
    {
        using JsonDocument document = JsonDocument.Parse(text);
        JsonElement root = document.RootElement;
        string version = root.GetProperty("version").GetString()!;
        JsonElement run = root.GetProperty("runs").EnumerateArray().ShouldHaveSingleItem();
        var results = new List<ReportedFinding>();
        foreach (JsonElement result in run.GetProperty("results").EnumerateArray())
        {
            JsonElement location = result.GetProperty("locations")[0].GetProperty("physicalLocation");
            int line = location.TryGetProperty("region", out JsonElement region) ? region.GetProperty("startLine").GetInt32() : 0;
            results.Add(new ReportedFinding(
                result.GetProperty("ruleId").GetString()!,
                location.GetProperty("artifactLocation").GetProperty("uri").GetString()!,
                line,
                result.GetProperty("level").GetString()!,
                result.GetProperty("message").GetProperty("text").GetString()!));
        }
        var notes = new List<string>();
        if (run.TryGetProperty("invocations", out JsonElement invocations))
        {
            foreach (JsonElement invocation in invocations.EnumerateArray())
            {
                if (invocation.TryGetProperty("toolExecutionNotifications", out JsonElement notifications))
                    notes.AddRange(notifications.EnumerateArray().Select(n => n.GetProperty("message").GetProperty("text").GetString()!));
            }
        }
        return (version, results, notes);
    }

    /// <summary>The JSON format: {"findings":[{path,line,severity,rule,message}], "summary":{…}, "notes":[…]}.</summary>
    public static (IReadOnlyList<ReportedFinding> Findings, IReadOnlyList<string> Notes) ParseJson(string text)
    {
        using JsonDocument document = JsonDocument.Parse(text);
        JsonElement root = document.RootElement;
        var findings = root.GetProperty("findings").EnumerateArray().Select(f => new ReportedFinding(
            f.GetProperty("rule").GetString()!,
            f.GetProperty("path").GetString()!,
            f.GetProperty("line").GetInt32(),
            f.GetProperty("severity").GetString()!,
            f.GetProperty("message").GetString()!)).ToList();
        var notes = root.GetProperty("notes").EnumerateArray().Select(n => n.GetString()!).ToList();
        return (findings, notes);
    }
}

/// <summary>
/// A repository whose <c>main</c> has one base commit and whose <c>feature</c> branch adds three problems the rules
/// reviewer must find, each at a known head line: a PEM private key (header on line 2, body right after), a complete
/// merge-conflict marker set (opening marker on line 5) and trailing whitespace (line 3).
/// </summary>
internal static class ProblemRepository
{
    public const string KeyPath = "config/deploy_key.pem";
    public const string ConflictPath = "src/app.py";
    public const string WhitespacePath = "docs/notes.txt";

    public static readonly (string Rule, string Path, int Line, string Level)[] ExpectedFindings =
    [
        ("private-key", KeyPath, 2, "error"),
        ("conflict-marker", ConflictPath, 5, "error"),
        ("whitespace", WhitespacePath, 3, "warning"),
    ];

    public const string BaseApp = "import os\n\n\ndef main():\n    print(\"hello\")\n";

    /// <summary>Creates the repository with <c>feature</c> checked out; returns it and the two commit ids.</summary>
    public static async Task<(RepositoryBuilder Repository, string BaseSha, string HeadSha)> CreateAsync(HermeticGit git)
    {
        RepositoryBuilder repo = await RepositoryBuilder.CreateAsync(git);
        try
        {
            string baseSha = await repo.CommitAsync("base",
                ("README.md", "# demo\n\nA small service.\n"),
                (ConflictPath, BaseApp),
                (WhitespacePath, "Release notes\n"));
            await repo.CreateBranchAsync("feature");
            string headSha = await repo.CommitAsync("feature: deploy key, a bad merge and notes",
                (KeyPath, "# staging deploy key\n" + PrivateKeyPem()),
                (ConflictPath, "import os\n\n\ndef main():\n<<<<<<< HEAD\n    print(\"hello\")\n=======\n    print(\"hello, world\")\n>>>>>>> feature\n"),
                (WhitespacePath, "Release notes\n\nFixed the login bug.   \n"));
            return (repo, baseSha, headSha);
        }
        catch
        {
            repo.Dispose();
            throw;
        }
    }

    /// <summary>A real, freshly generated RSA key in PEM ("-----BEGIN RSA PRIVATE KEY-----", 64-character base64 lines).</summary>
    public static string PrivateKeyPem()
    {
        using var rsa = RSA.Create(2048);
        return rsa.ExportRSAPrivateKeyPem() + "\n";
    }

    /// <summary>Sets HEAD of the bare repository <paramref name="bare"/> to <paramref name="branch"/>.</summary>
    public static Task PointHeadAtAsync(HermeticGit git, string bare, string branch) =>
        git.RunCheckedAsync(bare, ["symbolic-ref", "HEAD", $"refs/heads/{branch}"]);

    public static void ShouldBeTheExpectedFindings(IReadOnlyList<ReportedFinding> findings, string context) =>
        findings.Select(f => f.Key).OrderBy(k => k.Path, StringComparer.Ordinal).ToArray()
            .ShouldBe(ExpectedFindings.OrderBy(k => k.Path, StringComparer.Ordinal).ToArray(), context);
}

/// <summary>A directory the hostile inputs try to create files in; a test fails if any appears.</summary>
internal sealed class Markers : IDisposable
{
    private readonly TemporaryDirectory directory = new("ar-review-markers-");

    public string Directory => directory.Path;

    /// <summary>The path a given attack would create.</summary>
    public string Path(string name) => directory.Combine(name);

    public IReadOnlyList<string> Created =>
        System.IO.Directory.EnumerateFileSystemEntries(directory.Path).Select(entry => System.IO.Path.GetFileName(entry)).ToList();

    public void ShouldBeNoneCreated(string context) =>
        Created.ShouldBeEmpty($"a hostile input ran a command (markers created: {string.Join(", ", Created)})\n{context}");

    public void Dispose() => directory.Dispose();
}

internal static class Text
{
    /// <summary>Asserts the output carries no .NET stack trace.</summary>
    public static void ShouldHaveNoStackTrace(this CommandResult result)
    {
        result.Stderr.ShouldNotContain("   at ", Case.Sensitive, result.ToString());
        result.Stdout.ShouldNotContain("   at ", Case.Sensitive, result.ToString());
        result.Stderr.ShouldNotContain("Unhandled exception", Case.Sensitive, result.ToString());
    }
}
