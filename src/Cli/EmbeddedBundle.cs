using AutoReview.Bundle;
using AutoReview.Sandbox;

namespace AutoReview.Cli;

/// <summary>The bundle this executable carries, and the cache it is unpacked into.</summary>
internal static class EmbeddedBundle
{
    public static string Executable => Environment.ProcessPath ?? throw new BundleException("cannot find the path of the running executable");

    public static EmbeddedPayload Payload() =>
        EmbeddedPayload.Read(Executable)
        ?? throw new BundleException($"{Executable} carries no embedded bundle (it was not built by ./build.sh); give --rootfs DIR instead");

    public static BundleCache Cache() => new(BundleCache.DefaultRoot());

    /// <summary>
    /// The unpacked rootfs, held with a shared lock. A first unpack says so on stderr when that is a terminal,
    /// and is followed by a prune of other versions nobody uses, but for the most recently used few (the update path).
    /// </summary>
    public static BundleLease Acquire()
    {
        BundleCache cache = Cache();
        EmbeddedPayload payload = Payload();
        BundleLease lease = cache.Acquire(payload, Console.IsErrorRedirected ? null : message => Console.Error.WriteLine($"auto-review: {message}"));
        if (lease.Unpacked)
            cache.Prune(keepDigestHex: payload.Manifest.DigestHex, keepRecent: BundleCache.RecentVersionsKept);
        return lease;
    }

    /// <summary>
    /// A sandbox over the bundle as its config.json describes it: this executable at /usr/bin/auto-review, the
    /// writable tmpfs mounts, the bundle's environment (overridden by <paramref name="environment"/>), extra trust
    /// anchors over the bundle's CA file, and with the host's network, the host's resolver configuration over the
    /// placeholder. <paramref name="mounts"/> come last, so they may nest in the tmpfs mounts.
    /// </summary>
    public static SandboxSpec Spec(BundleLease lease, IReadOnlyList<string> command, NetworkChoice network, string? trustFile,
        IEnumerable<MountSpec> mounts, IEnumerable<KeyValuePair<string, string>> environment)
    {
        SpecConfig config = lease.Manifest.Spec.Config;
        var allMounts = new List<MountSpec> { new(MountKind.ReadOnlyBind, "/usr/bin/auto-review", Executable) };
        allMounts.AddRange(config.WritableMounts.Where(m => m.Destination != "/tmp").Select(m => new MountSpec(MountKind.Tmpfs, m.Destination)));
        if (trustFile is not null)
            allMounts.Add(new MountSpec(MountKind.ReadOnlyBind, TrustStore.BundlePath, trustFile));
        if (network == NetworkChoice.Host && File.Exists("/etc/resolv.conf"))
            allMounts.Add(new MountSpec(MountKind.ReadOnlyBind, "/etc/resolv.conf", "/etc/resolv.conf"));
        allMounts.AddRange(mounts);

        var variables = config.Env.Select(e => e.Split('=', 2)).ToDictionary(kv => kv[0], kv => kv.Length > 1 ? kv[1] : "", StringComparer.Ordinal);
        foreach ((string key, string value) in network == NetworkChoice.Proxy ? EgressProxySession.WithProxyEnvironment(environment) : environment)
            variables[key] = value;
        return new SandboxSpec
        {
            RootFs = lease.RootFs,
            Command = command,
            Mounts = allMounts,
            Environment = [.. variables],
            WorkingDirectory = config.Cwd,
            Network = network.ToLauncherMode(),
        };
    }
}
