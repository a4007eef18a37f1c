using System.Collections;
using AutoReview.Gateway;
using AutoReview.Gateway.Context;
using AutoReview.Gateway.Git;
using AutoReview.Gateway.Net;
using AutoReview.Gateway.Output;
using AutoReview.Gateway.Review;

namespace AutoReview.Cli;

/// <summary>
/// The inner gateway: what `review` runs in the sandbox (or, with --bare, on the host). It handles everything
/// untrusted (the forge's answers, repository content, the model's answers) and hands back only a JSON report,
/// which the outer process validates before rendering it. Exit status: 0 with the report written, 2 when the
/// input was refused (a ref, a URL, the LLM settings), 3 for any other failure; every message is redacted.
/// </summary>
internal static class GatewayCommand
{
    /// <summary>An access token for the forge (sent as an Authorization header, never in argv or a URL).</summary>
    public const string TokenVariable = "AUTO_REVIEW_GIT_TOKEN";

    /// <summary>Variables git may see: where its helpers and trust anchors are.</summary>
    private static readonly string[] GitVariables = ["SSL_CERT_FILE", "GIT_SSL_CAINFO", "GIT_EXEC_PATH"];

    public static int Run(GatewayOptions options)
    {
        Dictionary<string, string> environment = Environment.GetEnvironmentVariables().Cast<DictionaryEntry>()
            .ToDictionary(e => (string)e.Key, e => (string?)e.Value ?? "", StringComparer.Ordinal);
        string? token = environment.GetValueOrDefault(TokenVariable) is { Length: > 0 } t ? t : null;
        string? apiKey = environment.GetValueOrDefault(LlmOptions.ApiKeyVariable);
        // Messages name a local source by its host path: the sandbox's mount point means nothing to the user.
        string Redact(string message) => Redaction.Redact(
            options.SourceName is { } name ? message.Replace(options.Source, name, StringComparison.Ordinal) : message, token, apiKey);
        void Log(string line) => Console.Error.WriteLine($"auto-review: gateway: {Redact(line)}");

        // A signal cancels the job, which kills the git process tree it is running, rather than leaving git behind
        // (with --bare there is no pid namespace to take it down); the status is then 128+N, as if it had killed us.
        using var cancellation = new CancellationTokenSource();
        int signalled = 0;
        using var signals = new TerminationSignals(number =>
        {
            Interlocked.CompareExchange(ref signalled, number, 0);
            cancellation.Cancel();
        });
        try
        {
            ReviewRequest request = BuildRequest(options, environment, token, options.Verbose ? Log : null);
            FindingsReport report = ReviewJob.RunAsync(request, cancellation.Token).GetAwaiter().GetResult();
            using var file = new FileStream(options.Report, FileMode.CreateNew, FileAccess.Write);
            file.Write(FindingsWriter.ToJson(report.Findings, report.Notes));
            file.Flush(flushToDisk: true);
            return ExitCodes.Ok;
        }
        catch (Exception e) when (e is ArgumentException or LlmConfigurationException or UriFormatException)
        {
            Console.Error.WriteLine($"auto-review: {Redact(e.Message)}");
            return ExitCodes.Usage;
        }
        catch (OperationCanceledException) when (signalled != 0)
        {
            Console.Error.WriteLine($"auto-review: gateway: stopped by signal {signalled}");
            return 128 + signalled;
        }
        catch (Exception e) when (e is GitCommandException or ReviewFailedException or DiffFormatException or HttpRequestException
                                      or IOException or UnauthorizedAccessException or OperationCanceledException)
        {
            Console.Error.WriteLine($"auto-review: {Redact(e.Message)}");
            return ExitCodes.Error;
        }
    }

    private static ReviewRequest BuildRequest(GatewayOptions options, Dictionary<string, string> environment, string? token, Action<string>? log)
    {
        ReviewerKind reviewer = ParseReviewer(options.Reviewer);
        Uri? proxy = options.Proxy is null ? null : new Uri(options.Proxy, UriKind.Absolute);
        var gitEnvironment = GitVariables.Where(environment.ContainsKey).ToDictionary(name => name, name => environment[name], StringComparer.Ordinal);
        if (proxy is not null)
        {
            // libcurl reads the lower-case name for https; the upper-case one is for everything else that asks.
            gitEnvironment["https_proxy"] = gitEnvironment["HTTPS_PROXY"] = proxy.GetLeftPart(UriPartial.Authority);
        }

        string home = Path.Combine(options.WorkDirectory, "home");
        Directory.CreateDirectory(home, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        bool remote = options.Source.StartsWith("https://", StringComparison.OrdinalIgnoreCase);
        return new ReviewRequest
        {
            RepositoryUrl = remote ? new Uri(options.Source, UriKind.Absolute) : null,
            LocalPath = remote ? null : options.Source,
            Base = options.Base,
            Head = options.Head,
            Reviewer = reviewer,
            WorkDirectory = options.WorkDirectory,
            Git = new GitSourceOptions
            {
                GitPath = options.Git,
                HomeDirectory = home,
                AllowlistedEnvironment = gitEnvironment,
                Token = remote ? token : null,
            },
            MaxDiffBytes = options.MaxDiffBytes > 0 ? options.MaxDiffBytes : throw new ArgumentException("--max-diff-bytes must be positive"),
            Llm = reviewer == ReviewerKind.Llm ? LlmOptions.FromEnvironment(environment) : null,
            LlmHandlerFactory = proxy is null ? null : () => ProxyTunnel.CreateHandler(proxy),
            Log = log,
        };
    }

    public static ReviewerKind ParseReviewer(string name) => name switch
    {
        "rules" => ReviewerKind.Rules,
        "llm" => ReviewerKind.Llm,
        _ => throw new ArgumentException($"--reviewer {Printable.Escape(name)}: expected rules or llm"),
    };
}
