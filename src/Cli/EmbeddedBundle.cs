using AutoReview.Bundle;

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
    /// and is followed by a prune of other versions nobody uses (the update path).
    /// </summary>
    public static BundleLease Acquire()
    {
        BundleCache cache = Cache();
        EmbeddedPayload payload = Payload();
        BundleLease lease = cache.Acquire(payload, Console.IsErrorRedirected ? null : message => Console.Error.WriteLine($"auto-review: {message}"));
        if (lease.Unpacked)
            cache.Prune(keepDigestHex: payload.Manifest.DigestHex);
        return lease;
    }
}
