using System.Diagnostics;
using AutoReview.Bundle;
using AutoReview.Egress;
using AutoReview.Gateway;
using AutoReview.Gateway.Git;
using AutoReview.Gateway.Output;
using AutoReview.Gateway.Review;
using AutoReview.Sandbox;

namespace AutoReview.Cli;

/// <summary>
/// `review`: the outer process. It checks the command line, starts the inner gateway (in the sandbox over the
/// embedded bundle, or with --bare on the host), serves the egress proxy, then validates the gateway's JSON
/// report, renders it and sets the exit status from --fail-on. Nothing the gateway prints is trusted: only the
/// report crosses back, and it is parsed strictly with a size cap (ADR 0012).
/// </summary>
internal static class ReviewCommand
{
    /// <summary>Where things are inside the sandbox: all under the /work tmpfs, so the mount points can be made.</summary>
    private const string SandboxSource = "/work/source", SandboxOut = "/work/out", SandboxWork = "/work/gateway";

    private const string ReportName = "report.json";

    /// <summary>A report larger than this is refused: a compromised gateway must not exhaust the host's memory.</summary>
    public const long MaxReportBytes = 64L * 1024 * 1024;

    private sealed record Plan(
        ReviewOptions Options,
        Uri? RepositoryUrl,
        string? LocalPath,
        ReviewerKind Reviewer,
        OutputFormat Format,
        Severity? FailOn,
        NetworkChoice Network,
        EgressPolicy Policy,
        IReadOnlyList<KeyValuePair<string, string>> PassedEnvironment);

    public static int Run(ReviewOptions options)
    {
        Plan plan = Validate(options);
        DirectoryInfo temporary = Directory.CreateTempSubdirectory("auto-review-review-");
        try
        {
            // The gateway creates report.json here: bound at /work/out in the sandbox, or given as is with --bare.
            string outDirectory = temporary.CreateSubdirectory("out").FullName;
            int exit = options.Bare ? RunBare(plan, temporary.FullName, outDirectory) : RunIsolated(plan, outDirectory);
            if (exit != ExitCodes.Ok)
            {
                // The gateway has said why on stderr; a signal or an unexpected status is said here. A signal
                // keeps its shell-style status (130 after Ctrl-C), so scripts can tell an interrupt from a failure.
                if (exit is ExitCodes.Usage or ExitCodes.Error or ExitCodes.SandboxFailed)
                    return exit;
                if (exit > 128)
                {
                    Console.Error.WriteLine($"auto-review: the gateway stopped on signal {exit - 128}; no report");
                    return exit;
                }
                Console.Error.WriteLine($"auto-review: the gateway failed with exit status {exit}; no report");
                return ExitCodes.Error;
            }
            FindingsReport report = ReadReport(Path.Combine(outDirectory, ReportName));
            byte[] rendered = FindingsWriter.Write(plan.Format, report.Findings, report.Notes,
                plan.Reviewer == ReviewerKind.Rules ? RulesReviewer.AllRules : null);
            if (options.Output is null)
            {
                using Stream stdout = Console.OpenStandardOutput();
                stdout.Write(rendered);
            }
            else
            {
                WriteAtomically(options.Output, rendered);
                Console.Error.WriteLine($"auto-review: {FindingsWriter.SummaryText(report.Findings.ToList())}; report written to {options.Output}");
            }
            return plan.FailOn is { } threshold && SeverityNames.AnyAtOrAbove(report.Findings, threshold) ? ExitCodes.Findings : ExitCodes.Ok;
        }
        finally
        {
            temporary.Delete(recursive: true);
        }
    }

    private static Plan Validate(ReviewOptions options)
    {
        if (options.Isolated && options.Bare)
            throw new UsageException("--isolated and --bare exclude each other");
        if (!FindingsWriter.TryParseFormat(options.Format, out OutputFormat format))
            throw new UsageException($"--format {options.Format}: expected markdown, json or sarif");
        Severity? failOn = null;
        if (options.FailOn != "never")
            failOn = SeverityNames.TryParse(options.FailOn, out Severity severity) ? severity
                : throw new UsageException($"--fail-on {options.FailOn}: expected note, warning, error or never");
        if (options.Output is { } output && !Directory.Exists(Path.GetDirectoryName(Path.GetFullPath(output))))
            throw new UsageException($"--output {output}: the directory {Path.GetDirectoryName(Path.GetFullPath(output))} does not exist");
        if (Directory.Exists(options.Output))
            throw new UsageException($"--output {options.Output}: is a directory; name the report file");
        if (options.MaxDiffBytes <= 0)
            throw new UsageException($"--max-diff-bytes {options.MaxDiffBytes}: expected a positive number of bytes");
        ReviewerKind reviewer;
        (Uri? url, string? localPath) = ParseSource(options.Source);
        try
        {
            reviewer = GatewayCommand.ParseReviewer(options.Reviewer);
            foreach (string? revision in (string?[])[options.Base, options.Head])
            {
                // A server is asked for ref names and full ids only; a local repository resolves HEAD~3 too.
                if (revision is not null && url is not null)
                {
                    if (GitRefs.IsSha(revision) && !GitRefs.IsFullSha(revision))
                        throw new UsageException($"'{revision}': a server can be asked for a ref name or a full commit id, not an abbreviated one");
                    GitRefs.ValidateRevision(revision);
                }
                else if (revision is not null)
                    GitRefs.ValidateLocalRevision(revision);
            }
        }
        catch (ArgumentException e)
        {
            throw new UsageException(e.Message);
        }

        var passed = new List<KeyValuePair<string, string>>();
        var implied = new List<AllowEntry>();
        if (url is not null)
        {
            implied.Add(ImpliedEntry(url, "SOURCE"));
            if (Environment.GetEnvironmentVariable(GatewayCommand.TokenVariable) is { Length: > 0 } token)
                passed.Add(new(GatewayCommand.TokenVariable, token));
        }
        if (reviewer == ReviewerKind.Llm)
        {
            var environment = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (string name in (string[])[LlmOptions.BaseUrlVariable, LlmOptions.ApiKeyVariable, LlmOptions.ModelVariable])
            {
                if (Environment.GetEnvironmentVariable(name) is { } value)
                    environment[name] = value;
            }
            LlmOptions llm;
            try
            {
                llm = LlmOptions.FromEnvironment(environment);
            }
            catch (LlmConfigurationException e)
            {
                throw new UsageException(e.Message);
            }
            implied.Add(ImpliedEntry(llm.BaseUrl, LlmOptions.BaseUrlVariable));
            passed.AddRange(environment);
        }

        bool remote = implied.Count > 0;
        NetworkChoice network = options.Network is null ? (remote ? NetworkChoice.Proxy : NetworkChoice.None) : NetworkChoices.Parse(options.Network);
        if (options.Bare && options.Network is not null)
            throw new UsageException("--network applies to the sandbox; with --bare the gateway has this machine's network");
        if (!options.Bare && network == NetworkChoice.None && remote)
            throw new UsageException($"--network none: the gateway could not reach {string.Join(" or ", implied)}; use --network proxy (the default)");
        if (options.AllowHosts.Any() && (options.Bare || network != NetworkChoice.Proxy))
            throw new UsageException("--allow-host works with --network proxy only");
        return new Plan(options, url, localPath, reviewer, format, failOn, network,
            SandboxCommands.ParsePolicy(options.AllowHosts, implied), passed);
    }

    private static AllowEntry ImpliedEntry(Uri url, string source)
    {
        try
        {
            return AllowEntry.FromUri(url, source);
        }
        catch (EgressPolicyException e)
        {
            throw new UsageException(e.Message);
        }
    }

    private static string? FindOnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(directory => Path.Combine(directory, name))
            .FirstOrDefault(File.Exists);

    private static (Uri? Url, string? LocalPath) ParseSource(string source)
    {
        if (source.StartsWith("https://", StringComparison.OrdinalIgnoreCase))
        {
            return Uri.TryCreate(source, UriKind.Absolute, out Uri? url) && !string.IsNullOrEmpty(url.Host)
                ? (url, null)
                : throw new UsageException($"SOURCE {Printable.Escape(source)}: not a valid https:// URL");
        }
        if (source.Contains("://", StringComparison.Ordinal) || source.Contains("::", StringComparison.Ordinal)
            || (source.Contains('@') && source.Contains(':')))
            throw new UsageException($"SOURCE {Printable.Escape(source)}: only https:// URLs and local paths can be reviewed (not ssh, git, http, file or ext:: transports)");
        string full = Path.GetFullPath(source);
        if (!Directory.Exists(full))
            throw new UsageException($"SOURCE {Printable.Escape(full)}: no such directory");
        return (null, full);
    }

    private static List<string> GatewayArguments(Plan plan, string source, string report, string workDirectory, string git, bool proxy)
    {
        List<string> arguments =
        [
            "gateway", "--source", source, "--report", report, "--work-dir", workDirectory, "--git", git,
            "--reviewer", plan.Options.Reviewer, "--max-diff-bytes", plan.Options.MaxDiffBytes.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ];
        if (plan.LocalPath is not null) arguments.AddRange(["--source-name", plan.LocalPath]);
        if (plan.Options.Base is { } @base) arguments.AddRange(["--base", @base]);
        if (plan.Options.Head is { } head) arguments.AddRange(["--head", head]);
        if (proxy) arguments.AddRange(["--proxy", EgressProxySession.SandboxProxyUri.GetLeftPart(UriPartial.Authority)]);
        if (plan.Options.Verbose) arguments.Add("--verbose");
        return arguments;
    }

    private static int RunIsolated(Plan plan, string outDirectory)
    {
        try
        {
            using BundleLease lease = EmbeddedBundle.Acquire();
            using TrustFile? trust = plan.Options.CaFiles.Any()
                ? TrustStore.Combine(Path.Join(lease.RootFs, TrustStore.BundlePath), plan.Options.CaFiles.ToList())
                : null;
            var mounts = new List<MountSpec> { new(MountKind.Bind, SandboxOut, outDirectory) };
            if (plan.LocalPath is not null)
                mounts.Add(new MountSpec(MountKind.ReadOnlyBind, SandboxSource, plan.LocalPath));
            List<string> command =
            [
                "/usr/bin/auto-review",
                .. GatewayArguments(plan, plan.RepositoryUrl?.OriginalString ?? SandboxSource, $"{SandboxOut}/{ReportName}", SandboxWork,
                    "/usr/bin/git", proxy: plan.Network == NetworkChoice.Proxy),
            ];
            SandboxSpec spec = EmbeddedBundle.Spec(lease, command, plan.Network, trust?.Path, mounts, plan.PassedEnvironment);
            if (plan.Options.Verbose)
                Console.Error.WriteLine($"auto-review: running the gateway in the sandbox; network: {Describe(plan)}");
            SandboxExit exit = plan.Network == NetworkChoice.Proxy
                ? new EgressProxySession(plan.Policy, plan.Options.Verbose).Run(spec)
                : Launcher.Run(spec);
            return exit.ExitCode;
        }
        catch (SandboxSetupException e)
        {
            Console.Error.WriteLine($"auto-review: {e.Message}");
            return ExitCodes.SandboxFailed;
        }
    }

    private static string Describe(Plan plan) => plan.Network switch
    {
        NetworkChoice.Proxy => $"egress proxy allowing {string.Join(", ", plan.Policy.Entries)}",
        NetworkChoice.Host => "the host's (--network host)",
        _ => "none (loopback only)",
    };

    private static int RunBare(Plan plan, string temporary, string outDirectory)
    {
        Console.Error.WriteLine("auto-review: WARNING: --bare: the gateway runs WITHOUT isolation. git, the repository's content and the model's "
            + "answers are handled with all of this user's access to files and the network.");
        using TrustFile? trust = plan.Options.CaFiles.Any() ? TrustStore.Combine(TrustStore.BundlePath, plan.Options.CaFiles.ToList()) : null;
        var start = new ProcessStartInfo(EmbeddedBundle.Executable) { UseShellExecute = false };
            string git = FindOnPath("git") ?? throw new UsageException("--bare needs git on this machine's PATH");
        foreach (string argument in GatewayArguments(plan, plan.RepositoryUrl?.OriginalString ?? plan.LocalPath!,
                     Path.Combine(outDirectory, ReportName), Directory.CreateDirectory(Path.Combine(temporary, "work")).FullName, git, proxy: false))
            start.ArgumentList.Add(argument);
        start.Environment.Clear();
        start.Environment["PATH"] = Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin";
        start.Environment["DOTNET_SYSTEM_GLOBALIZATION_INVARIANT"] = "1";
        if (trust is not null)
            start.Environment["SSL_CERT_FILE"] = start.Environment["GIT_SSL_CAINFO"] = trust.Path;
        foreach ((string key, string value) in plan.PassedEnvironment)
            start.Environment[key] = value;
        using Process process = Process.Start(start)!;
        // A signal to this process is passed on and waited for, as the launcher does for a sandbox: the gateway
        // ends first, then the temporary directory is removed, whatever stopped the review.
        using var signals = new TerminationSignals(number => Interop.ProcessInterop.Signal(process.Id, number));
        process.WaitForExit();
        return process.ExitCode;
    }

    /// <summary>Reads the report the gateway left. The gateway has exited (in the sandbox, its whole pid namespace
    /// is gone), so nothing can swap the file while it is checked and read.</summary>
    private static FindingsReport ReadReport(string path)
    {
        var info = new FileInfo(path);
        if (!info.Exists || info.LinkTarget is not null)
            throw new GatewayReportException($"the gateway exited successfully but left no report at {path}");
        if (info.Length > MaxReportBytes)
            throw new GatewayReportException($"the gateway's report is {info.Length} bytes, over the {MaxReportBytes}-byte limit; refused");
        try
        {
            return FindingsJsonReader.Read(File.ReadAllBytes(path));
        }
        catch (FormatException e)
        {
            throw new GatewayReportException($"the gateway's report is invalid: {e.Message}");
        }
    }

    /// <summary>Writes next to the target and renames over it: an interrupted run never leaves half a report. A
    /// device, FIFO or socket (<c>/dev/null</c>, <c>/dev/stdout</c>) is written in place instead.</summary>
    private static void WriteAtomically(string path, byte[] content)
    {
        string full = Path.GetFullPath(path);
        if (Interop.FileInterop.IsSpecialFile(full))
        {
            using var special = new FileStream(full, FileMode.Open, FileAccess.Write);
            special.Write(content);
            return;
        }
        string temporary = Path.Combine(Path.GetDirectoryName(full)!, $".{Path.GetFileName(full)}.{Environment.ProcessId}.tmp");
        try
        {
            using (var file = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write))
            {
                file.Write(content);
                file.Flush(flushToDisk: true);
            }
            File.Move(temporary, full, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            File.Delete(temporary);
            throw new IOException($"--output {path}: cannot write the report: {e.Message}", e);
        }
    }
}

/// <summary>The gateway's report is missing, too large or malformed: reported in one line, exit status 3.</summary>
internal sealed class GatewayReportException(string message) : IOException(message);
