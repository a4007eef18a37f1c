using AutoReview.Sandbox.Seccomp;

namespace AutoReview.Sandbox;

public enum NetworkMode
{
    /// <summary>A new network namespace with only loopback, brought up.</summary>
    None,
    /// <summary>The host's network namespace (explicit opt-in).</summary>
    Host,
}

public enum MountKind
{
    Bind,
    ReadOnlyBind,
    Tmpfs,
}

/// <summary>A mount the caller asked for, in command-line order (order matters: later mounts may nest in earlier ones).</summary>
public sealed record MountSpec(MountKind Kind, string Destination, string? Source = null)
{
    /// <summary>How a user wrote it, for error messages: "--ro-bind /src /dst".</summary>
    public string Describe() => Kind switch
    {
        MountKind.Bind => $"--bind {Source} {Destination}",
        MountKind.ReadOnlyBind => $"--ro-bind {Source} {Destination}",
        _ => $"--tmpfs {Destination}",
    };
}

/// <summary>What to run and how to isolate it. Knows nothing of bundles or reviews.</summary>
public sealed record SandboxSpec
{
    /// <summary>The directory that becomes /, bind-mounted read-only.</summary>
    public required string RootFs { get; init; }

    /// <summary>argv; argv[0] is looked up on the sandbox's PATH when it has no slash.</summary>
    public required IReadOnlyList<string> Command { get; init; }

    public IReadOnlyList<MountSpec> Mounts { get; init; } = [];

    /// <summary>The complete environment: nothing is inherited from the launcher.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Environment { get; init; } = [];

    public string WorkingDirectory { get; init; } = "/";
    public string Hostname { get; init; } = "auto-review";
    public NetworkMode Network { get; init; } = NetworkMode.None;

    /// <summary>
    /// TCP ports on which the sandbox's init listens at 127.0.0.1 inside the sandbox's own network namespace,
    /// handing each listening socket out to the launcher (<see cref="Launcher.Run"/>'s onListening). So the
    /// launcher serves, say, an egress proxy that the sandbox reaches on its loopback, while the sandbox has no
    /// route anywhere else. Requires <see cref="NetworkMode.None"/>.
    /// </summary>
    public IReadOnlyList<int> LoopbackListeners { get; init; } = [];

    /// <summary>The uid inside; the invoking user maps onto it. 65532 is the bundle's auto_review user.</summary>
    public uint Uid { get; init; } = 65532;

    public uint Gid { get; init; } = 65532;

    /// <summary>The seccomp program (struct sock_filter bytes) installed last before execve: the default policy (ADR 0003).</summary>
    public byte[] SeccompFilter { get; init; } = DefaultSeccompFilter;

    private static readonly byte[] DefaultSeccompFilter = Bpf.ToBytes(SeccompPolicy.Assemble());
}
