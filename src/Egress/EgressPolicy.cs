using System.Globalization;
using System.Net;

namespace AutoReview.Egress;

/// <summary>An allowlist entry that could not be parsed; the message names the option and the entry.</summary>
public sealed class EgressPolicyException(string message) : FormatException(message);

/// <summary>What an allowlist entry matches.</summary>
public enum AllowEntryKind
{
    /// <summary>Exactly one DNS name.</summary>
    Name,

    /// <summary>Every name below a domain (<c>*.example.com</c>), not the domain itself.</summary>
    Wildcard,

    /// <summary>Exactly one IP address, written literally.</summary>
    Address,
}

/// <summary>One allowed destination: a host (or a wildcard domain) and one port.</summary>
/// <param name="Host">The canonical host; for <see cref="AllowEntryKind.Wildcard"/>, the domain below which names match (without "*.").</param>
public sealed record AllowEntry(AllowEntryKind Kind, EgressHost Host, int Port)
{
    public const int DefaultPort = 443;

    public override string ToString() => Kind == AllowEntryKind.Wildcard ? $"*.{Host.ToAuthority(Port)}" : Host.ToAuthority(Port);

    /// <summary>
    /// Parses <c>host[:port]</c>: a DNS name, <c>*.domain</c>, an IPv4 dotted quad, or an IPv6 address
    /// (<c>[::1]:8443</c>, or bare <c>::1</c> for the default port). The port defaults to 443.
    /// </summary>
    /// <param name="source">Names where the entry came from in error messages, e.g. "--allow-host".</param>
    /// <exception cref="EgressPolicyException">The entry is malformed; the message reads "SOURCE ENTRY: why".</exception>
    public static AllowEntry Parse(string text, string source = "--allow-host")
    {
        ArgumentNullException.ThrowIfNull(text);
        return TryParse(text, out AllowEntry? entry, out string error)
            ? entry
            : throw new EgressPolicyException($"{source} {Printable(text)}: {error}");
    }

    /// <summary>The entry for a repository or API URL's host and port (e.g. the clone URL), for composing a policy.</summary>
    /// <exception cref="EgressPolicyException">The URL has no usable host.</exception>
    public static AllowEntry FromUri(Uri uri, string source)
    {
        ArgumentNullException.ThrowIfNull(uri);
        if (!uri.IsAbsoluteUri || uri.IsFile || string.IsNullOrEmpty(uri.IdnHost))
            throw new EgressPolicyException($"{source} {Printable(uri.OriginalString)}: not a network URL with a host");
        // IdnHost is punycode for IDN names and keeps IPv6 brackets; TryParse takes either form.
        if (!EgressHost.TryParse(uri.IdnHost, out EgressHost host, out string error))
            throw new EgressPolicyException($"{source} {Printable(uri.OriginalString)}: {error}");
        return new AllowEntry(host.IsAddress ? AllowEntryKind.Address : AllowEntryKind.Name, host, uri.Port);
    }

    internal static bool TryParse(string text, out AllowEntry entry, out string error)
    {
        entry = null!;
        string trimmed = text.Trim();
        if (trimmed.Length == 0)
        {
            error = "the entry is empty";
            return false;
        }
        if (trimmed.Contains("://", StringComparison.Ordinal) || trimmed.Contains('/') || trimmed.Contains('@'))
        {
            error = "expected host[:port], not a URL (no scheme, user, or path)";
            return false;
        }
        if (!Authority.TrySplit(trimmed, AllowEntry.DefaultPort, out string hostText, out int port, out error))
            return false;

        if (hostText.StartsWith("*.", StringComparison.Ordinal))
        {
            if (!EgressHost.TryNormaliseName(hostText[2..], out string domain, out error))
                return false;
            // "*.com" or "*.internal" would open a whole top-level domain; a wildcard must name a registrable-looking domain.
            if (!domain.Contains('.'))
            {
                error = "a wildcard must sit below a domain of at least two labels (e.g. *.example.com)";
                return false;
            }
            if (!EgressHost.TryParse(domain, out EgressHost domainHost, out error))
                return false;
            entry = new AllowEntry(AllowEntryKind.Wildcard, domainHost, port);
            return true;
        }
        if (hostText.Contains('*'))
        {
            error = "'*' is only allowed as a whole leftmost label (*.example.com)";
            return false;
        }
        if (!EgressHost.TryParse(hostText, out EgressHost host, out error))
            return false;
        entry = new AllowEntry(host.IsAddress ? AllowEntryKind.Address : AllowEntryKind.Name, host, port);
        return true;
    }

    internal static string Printable(string text) => EgressHost.Printable(text);
}

/// <summary>The answer to "may the sandbox reach host:port?".</summary>
/// <param name="Host">The canonical host, when the input was a valid host (also when denied, for the log).</param>
/// <param name="Reason">Why the destination was denied; null when allowed.</param>
public readonly record struct EgressDecision(bool IsAllowed, EgressHost? Host, int Port, string? Reason)
{
    public static EgressDecision Allow(EgressHost host, int port) => new(true, host, port, null);

    public static EgressDecision Deny(EgressHost? host, int port, string reason) => new(false, host, port, reason);
}

/// <summary>
/// The destinations the sandbox may reach through the proxy: the repository's host, the LLM host and the
/// <c>--allow-host</c> entries. Everything else is denied.
/// </summary>
/// <remarks>
/// <para>Names match exactly after normalisation (lowercase, punycode, no trailing dot), and each entry allows one
/// port (443 unless given).</para>
/// <para>Wildcards: <c>*.example.com</c> matches any name below example.com (<c>a.example.com</c>,
/// <c>a.b.example.com</c>) but not example.com itself, so the apex must be listed on its own, and never an IP address.
/// They exist because API hosts are often per-tenant (<c>*.openai.azure.com</c>); a wildcard directly below a
/// top-level domain (<c>*.com</c>) is refused.</para>
/// <para>IP literals: a CONNECT to an address is allowed only when that address is listed literally; a name that
/// happens to resolve to it does not allow it.</para>
/// <para>The policy decides on names only. Where a name may lead (the DNS-rebinding guard) is the proxy's check,
/// which uses <see cref="AllowsLiteral"/>.</para>
/// </remarks>
public sealed class EgressPolicy
{
    private readonly HashSet<(EgressHost Host, int Port)> exact;
    private readonly List<AllowEntry> wildcards;

    private EgressPolicy(IReadOnlyList<AllowEntry> entries)
    {
        Entries = entries;
        exact = entries.Where(e => e.Kind != AllowEntryKind.Wildcard).Select(e => (e.Host, e.Port)).ToHashSet();
        wildcards = entries.Where(e => e.Kind == AllowEntryKind.Wildcard).ToList();
    }

    /// <summary>A policy that allows nothing.</summary>
    public static EgressPolicy DenyAll { get; } = new([]);

    /// <summary>The entries, deduplicated, in the order first given.</summary>
    public IReadOnlyList<AllowEntry> Entries { get; }

    /// <summary>Parses <c>host[:port]</c> entries (see <see cref="AllowEntry.Parse"/>).</summary>
    /// <exception cref="EgressPolicyException">An entry is malformed; the message names it.</exception>
    public static EgressPolicy Parse(IEnumerable<string> entries, string source = "--allow-host")
    {
        ArgumentNullException.ThrowIfNull(entries);
        return Create(entries.Select(e => AllowEntry.Parse(e, source)));
    }

    public static EgressPolicy Create(IEnumerable<AllowEntry> entries)
    {
        ArgumentNullException.ThrowIfNull(entries);
        return new EgressPolicy(entries.Distinct().ToList());
    }

    /// <summary>This policy plus <paramref name="more"/> entries.</summary>
    public EgressPolicy With(IEnumerable<AllowEntry> more) => Create(Entries.Concat(more));

    /// <summary>Decides whether <paramref name="host"/> (a name or an IP literal, IPv6 with or without brackets) on <paramref name="port"/> may be reached.</summary>
    public EgressDecision Decide(string host, int port)
    {
        ArgumentNullException.ThrowIfNull(host);
        if (port is < 1 or > 65535)
            return EgressDecision.Deny(null, port, $"port {port.ToString(CultureInfo.InvariantCulture)} is out of range");
        if (!EgressHost.TryParse(host, out EgressHost canonical, out string error))
            return EgressDecision.Deny(null, port, $"not a valid host: {error}");
        return Decide(canonical, port);
    }

    /// <summary>Decides for a host that is already canonical.</summary>
    public EgressDecision Decide(EgressHost host, int port)
    {
        ArgumentNullException.ThrowIfNull(host);
        if (exact.Contains((host, port)))
            return EgressDecision.Allow(host, port);
        if (!host.IsAddress)
        {
            foreach (AllowEntry wildcard in wildcards)
            {
                if (wildcard.Port == port && host.Name.EndsWith("." + wildcard.Host.Name, StringComparison.Ordinal))
                    return EgressDecision.Allow(host, port);
            }
        }
        string what = host.ToAuthority(port);
        bool otherPort = exact.Any(e => e.Host == host) || (!host.IsAddress && wildcards.Any(w => host.Name.EndsWith("." + w.Host.Name, StringComparison.Ordinal)));
        string reason = otherPort
            ? $"{what} is not in the egress allowlist (the host is allowed, but on other ports only)"
            : host.IsAddress
                ? $"{what} is not in the egress allowlist (IP addresses are allowed only when listed literally)"
                : $"{what} is not in the egress allowlist";
        return EgressDecision.Deny(host, port, reason);
    }

    /// <summary>Whether <paramref name="address"/> on <paramref name="port"/> is listed literally (the exception to the DNS-rebinding guard).</summary>
    public bool AllowsLiteral(IPAddress address, int port)
    {
        ArgumentNullException.ThrowIfNull(address);
        return exact.Contains((EgressHost.FromAddress(address), port));
    }
}

/// <summary>Splits <c>host[:port]</c> authorities, including bracketed IPv6.</summary>
internal static class Authority
{
    /// <param name="defaultPort">The port when none is written; null makes the port mandatory (CONNECT targets).</param>
    public static bool TrySplit(string text, int? defaultPort, out string host, out int port, out string error)
    {
        host = "";
        port = 0;
        string? portText;
        if (text.StartsWith('['))
        {
            int close = text.IndexOf(']', StringComparison.Ordinal);
            if (close < 0)
            {
                error = "an IPv6 literal opened with '[' must end with ']'";
                return false;
            }
            host = text[..(close + 1)];
            string rest = text[(close + 1)..];
            if (rest.Length == 0)
                portText = null;
            else if (rest[0] == ':')
                portText = rest[1..];
            else
            {
                error = "expected ':port' after the IPv6 literal";
                return false;
            }
        }
        else
        {
            int colons = text.Count(c => c == ':');
            if (colons == 0)
            {
                host = text;
                portText = null;
            }
            else if (colons == 1)
            {
                int colon = text.IndexOf(':', StringComparison.Ordinal);
                host = text[..colon];
                portText = text[(colon + 1)..];
            }
            else if (defaultPort is not null)
            {
                // A bare IPv6 address: it cannot carry a port without brackets.
                host = text;
                portText = null;
            }
            else
            {
                error = "an IPv6 address with a port must be written in brackets ([::1]:443)";
                return false;
            }
        }

        if (portText is null)
        {
            if (defaultPort is null)
            {
                error = "the port is missing (expected host:port)";
                return false;
            }
            port = defaultPort.Value;
        }
        else if (!TryParsePort(portText, out port))
        {
            error = $"'{AllowEntry.Printable(portText)}' is not a port (1-65535)";
            return false;
        }
        error = "";
        return true;
    }

    private static bool TryParsePort(string text, out int port)
    {
        port = 0;
        // Digits only: int.Parse would take "+443" or " 443", which a client and this proxy might read differently.
        if (text.Length is 0 or > 5 || !text.All(char.IsAsciiDigit))
            return false;
        port = int.Parse(text, NumberStyles.None, CultureInfo.InvariantCulture);
        return port is >= 1 and <= 65535;
    }
}
