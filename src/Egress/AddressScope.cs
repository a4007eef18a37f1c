using System.Net;
using System.Net.Sockets;

namespace AutoReview.Egress;

/// <summary>
/// Classifies destination addresses for the DNS-rebinding guard: a public name that resolves to loopback, a
/// private network, link-local (including cloud metadata at 169.254.169.254), multicast or an unspecified
/// address would let the sandbox reach the host's own services or its LAN through an allowlisted name.
/// </summary>
public static class AddressScope
{
    /// <summary>
    /// Null for a globally routable address; otherwise a short description of why it is not
    /// ("loopback", "private", "link-local", …). Addresses that embed an IPv4 address (IPv4-mapped,
    /// NAT64 64:ff9b::/96, 6to4 2002::/16) are judged by the embedded address.
    /// </summary>
    public static string? NonPublicKind(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        byte[] b = address.GetAddressBytes();
        if (address.AddressFamily == AddressFamily.InterNetwork)
            return IPv4Kind(b);
        if (address.AddressFamily != AddressFamily.InterNetworkV6)
            return "not an IP address";

        if (address.IsIPv4MappedToIPv6)
            return IPv4Kind(b[12..16]);
        if (b.AsSpan(0, 15).IndexOfAnyExcept((byte)0) < 0)
            return b[15] switch { 0 => "unspecified", 1 => "loopback", _ => "reserved (IPv4-compatible)" };
        if (b.AsSpan(0, 12).IndexOfAnyExcept((byte)0) < 0)
            return "reserved (IPv4-compatible)";
        // NAT64's well-known prefix: the host's NAT64 gateway forwards to the embedded IPv4 address.
        if (b.AsSpan(0, 12).SequenceEqual((ReadOnlySpan<byte>)[0x00, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0]))
            return IPv4Kind(b[12..16]);
        // 6to4 relays to the IPv4 address in bits 16-47.
        if (b[0] == 0x20 && b[1] == 0x02)
            return IPv4Kind(b[2..6]);
        if (b[0] == 0xff)
            return "multicast";
        if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80)
            return "link-local";
        if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0)
            return "site-local";
        if ((b[0] & 0xfe) == 0xfc)
            return "private (unique local)";
        if (b[0] == 0x01 && b[1] == 0x00 && b.AsSpan(2, 6).IndexOfAnyExcept((byte)0) < 0)
            return "reserved (discard-only)";
        return null;
    }

    private static string? IPv4Kind(ReadOnlySpan<byte> b) => b[0] switch
    {
        0 => "unspecified (this network)",
        10 => "private",
        127 => "loopback",
        100 when (b[1] & 0xc0) == 64 => "shared address space (carrier-grade NAT)",
        169 when b[1] == 254 => "link-local",
        172 when (b[1] & 0xf0) == 16 => "private",
        192 when b[1] == 168 => "private",
        192 when b[1] == 0 && b[2] == 0 => "reserved (IETF protocol assignments)",
        198 when (b[1] & 0xfe) == 18 => "reserved (benchmarking)",
        >= 224 and <= 239 => "multicast",
        >= 240 => b[1] == 255 && b[2] == 255 && b[3] == 255 && b[0] == 255 ? "broadcast" : "reserved",
        _ => null,
    };
}
