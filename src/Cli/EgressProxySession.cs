using System.Net.Sockets;
using AutoReview.Egress;
using AutoReview.Sandbox;

namespace AutoReview.Cli;

/// <summary>
/// A sandbox whose only way out is the host-side egress proxy (ADR 0011): the sandbox's init listens at
/// 127.0.0.1:<see cref="SandboxPort"/> in the sandbox's own network namespace, the launcher receives that socket,
/// and this process serves it with <see cref="ConnectProxy"/> under the allowlist. Every denial is logged on
/// stderr; allowed tunnels only with <c>verbose</c>.
/// </summary>
internal sealed class EgressProxySession
{
    /// <summary>The proxy's port inside the sandbox. The namespace is the sandbox's own, so it is always free.</summary>
    public const int SandboxPort = 3128;

    public static readonly Uri SandboxProxyUri = new($"http://127.0.0.1:{SandboxPort}");

    private readonly EgressPolicy policy;
    private readonly bool verbose;

    public EgressProxySession(EgressPolicy policy, bool verbose)
    {
        this.policy = policy;
        this.verbose = verbose;
    }

    /// <summary>The variables that point HTTP clients inside (libcurl, .NET, most others) at the proxy.</summary>
    public static IEnumerable<KeyValuePair<string, string>> ProxyEnvironment()
    {
        string url = SandboxProxyUri.GetLeftPart(UriPartial.Authority);
        foreach (string name in (string[])["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"])
            yield return new(name, url);
    }

    /// <summary>The proxy variables, then <paramref name="environment"/>, which wins where both set a name.</summary>
    public static IReadOnlyList<KeyValuePair<string, string>> WithProxyEnvironment(IEnumerable<KeyValuePair<string, string>> environment)
    {
        var variables = new Dictionary<string, string>(ProxyEnvironment(), StringComparer.Ordinal);
        foreach ((string key, string value) in environment)
            variables[key] = value;
        return variables.ToList();
    }

    /// <summary>Runs <paramref name="spec"/> (its own network namespace) with the proxy serving its loopback listener.</summary>
    public SandboxExit Run(SandboxSpec spec)
    {
        ConnectProxy? proxy = null;
        try
        {
            return Launcher.Run(spec with { Network = NetworkMode.None, LoopbackListeners = [SandboxPort] }, onListening: listeners =>
            {
                Socket listener = listeners[SandboxPort];
                proxy = ConnectProxy.Serve(listener, policy, new ConnectProxyOptions { Log = Log });
            });
        }
        finally
        {
            proxy?.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
    }

    private void Log(EgressLogEntry entry)
    {
        if (verbose || entry.Decision != EgressOutcome.Allowed)
            Console.Error.WriteLine($"auto-review: {entry}");
    }
}
