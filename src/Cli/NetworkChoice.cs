using AutoReview.Sandbox;

namespace AutoReview.Cli;

/// <summary>The sandbox's network, as the command line names it (ADR 0011).</summary>
internal enum NetworkChoice
{
    /// <summary>Its own network namespace with loopback only: nothing outside is reachable.</summary>
    None,

    /// <summary>As <see cref="None"/>, plus the host-side egress proxy listening on the sandbox's own loopback.</summary>
    Proxy,

    /// <summary>The host's network namespace: explicit opt-in.</summary>
    Host,
}

internal static class NetworkChoices
{
    public static NetworkChoice Parse(string text) => text switch
    {
        "none" => NetworkChoice.None,
        "proxy" => NetworkChoice.Proxy,
        "host" => NetworkChoice.Host,
        _ => throw new UsageException($"--network {text}: expected none, proxy or host"),
    };

    /// <summary>The launcher's mode: the proxy's sandbox side is a network namespace like <see cref="NetworkChoice.None"/>.</summary>
    public static NetworkMode ToLauncherMode(this NetworkChoice choice) => choice == NetworkChoice.Host ? NetworkMode.Host : NetworkMode.None;
}
