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
