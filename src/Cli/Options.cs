using CommandLine;

namespace AutoReview.Cli;

// CommandLineParser binds these through reflection; NativeAOT keeps their members because
// Cli.Dispatch names each type in a DynamicDependency (ADR 0002).

[Verb("doctor", HelpText = "Report the isolation posture of this machine: which namespaces, seccomp, Landlock, cgroup delegation and /proc mounting work, and why not.")]
internal sealed class DoctorOptions
{
    [Option("json", HelpText = "Print the report as JSON on stdout.")]
    public bool Json { get; set; }
}

[Verb("sandbox", HelpText = "Run a command in the sandbox: `auto-review sandbox run --help`.")]
internal sealed class SandboxVerb;

[Verb("bundle", HelpText = "The embedded rootfs: `auto-review bundle info|list|verify|prune|path|export --help`.")]
internal sealed class BundleVerb;

[Verb("probe", Hidden = true, HelpText = "Inside a sandbox: try each escape and report what happened.")]
internal sealed class ProbeOptions
{
    [Option("json", HelpText = "Print the checks as JSON.")]
    public bool Json { get; set; }

    [Option("expect-ro", HelpText = "A path that must be read-only (repeatable).")]
    public IEnumerable<string> ReadOnlyPaths { get; set; } = [];

    [Option("expect-writable", HelpText = "A directory that must be writable (repeatable; default /tmp).")]
    public IEnumerable<string> WritablePaths { get; set; } = [];

    [Option("expect-hostname", HelpText = "The hostname the sandbox must have.")]
    public string? Hostname { get; set; }

    [Option("host-pid", HelpText = "A host pid that must be invisible.")]
    public int? HostPid { get; set; }

    [Option("port", HelpText = "A TCP port listening on the host's 127.0.0.1.")]
    public int? Port { get; set; }

    [Option("leaked-path", HelpText = "A host file the launcher held open; no fd inside may lead to it (repeatable).")]
    public IEnumerable<string> LeakedPaths { get; set; } = [];

    [Option("fetch", HelpText = "An https:// URL that must be fetched with a 2xx answer.")]
    public string? FetchUrl { get; set; }

    [Option("host-network", HelpText = "Expect the host's network (the port is reachable).")]
    public bool HostNetwork { get; set; }
}

[Verb("review", HelpText = "Review the changes between two commits of a repository: in the sandbox by default, over the embedded bundle.")]
internal sealed class ReviewOptions
{
    [Value(0, MetaName = "SOURCE", Default = ".", HelpText = "An https:// repository URL, or a local repository path (default: the current directory).")]
    public string Source { get; set; } = ".";

    [Option("isolated", HelpText = "Run the gateway in the sandbox (the default).")]
    public bool Isolated { get; set; }

    [Option("bare", HelpText = "Run the gateway WITHOUT isolation, on the host (prints a warning).")]
    public bool Bare { get; set; }

    [Option("base", HelpText = "The base revision (default: the upstream's default branch, or main).")]
    public string? Base { get; set; }

    [Option("head", HelpText = "The revision to review (default: HEAD).")]
    public string? Head { get; set; }

    [Option("reviewer", Default = "rules", HelpText = "rules (deterministic, offline) or llm (LLM_BASE_URL, LLM_API_KEY, LLM_REASONING_MODEL).")]
    public string Reviewer { get; set; } = "rules";

    [Option("format", Default = "markdown", HelpText = "markdown, json or sarif.")]
    public string Format { get; set; } = "markdown";

    [Option("output", HelpText = "Write the report to this file (default: stdout).")]
    public string? Output { get; set; }

    [Option("allow-host", HelpText = "Also let the sandbox reach HOST[:PORT] through the egress proxy (repeatable).")]
    public IEnumerable<string> AllowHosts { get; set; } = [];

    [Option("ca-file", HelpText = "Also trust the CA certificates in this PEM file, for git and the LLM client (repeatable).")]
    public IEnumerable<string> CaFiles { get; set; } = [];

    [Option("network", HelpText = "proxy (the default when anything remote is needed), none (the default otherwise) or host.")]
    public string? Network { get; set; }

    [Option("fail-on", Default = "warning", HelpText = "Exit 1 when a finding is at or above this severity: note, warning, error or never.")]
    public string FailOn { get; set; } = "warning";

    [Option("max-diff-bytes", Default = 16L * 1024 * 1024, HelpText = "Cut the diff at the last whole file before this many bytes, with a note.")]
    public long MaxDiffBytes { get; set; } = 16L * 1024 * 1024;

    [Option("verbose", HelpText = "Also log the gateway's progress and every allowed egress connection.")]
    public bool Verbose { get; set; }
}

[Verb("gateway", Hidden = true, HelpText = "The inner gateway that `review` runs in the sandbox: fetch, build the context, review, write the JSON report.")]
internal sealed class GatewayOptions
{
    [Option("source", Required = true, HelpText = "An https:// URL or a local repository path.")]
    public string Source { get; set; } = "";

    [Option("source-name", HelpText = "How messages name a local source (its path on the host, not the sandbox's mount point).")]
    public string? SourceName { get; set; }

    [Option("base")]
    public string? Base { get; set; }

    [Option("head")]
    public string? Head { get; set; }

    [Option("reviewer", Default = "rules")]
    public string Reviewer { get; set; } = "rules";

    [Option("report", Required = true, HelpText = "Where to create the JSON report (it must not exist).")]
    public string Report { get; set; } = "";

    [Option("work-dir", Required = true, HelpText = "A private, writable directory for the clone and git's HOME.")]
    public string WorkDirectory { get; set; } = "";

    [Option("git", Default = "git", HelpText = "The git executable.")]
    public string Git { get; set; } = "git";

    [Option("proxy", HelpText = "The egress proxy (http://127.0.0.1:PORT) for git and the LLM client.")]
    public string? Proxy { get; set; }

    [Option("max-diff-bytes", Default = 16L * 1024 * 1024)]
    public long MaxDiffBytes { get; set; } = 16L * 1024 * 1024;

    [Option("verbose")]
    public bool Verbose { get; set; }
}
