using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace AutoReview.Egress;

/// <summary>
/// A host in canonical form: a DNS name (lowercase ASCII, IDN labels as punycode, no trailing dot) or an IP
/// address (IPv4 dotted quad; IPv6 in RFC 5952 form, with IPv4-mapped addresses folded to IPv4).
/// Allowlist entries and CONNECT targets go through the same normalisation, so "BÜCHER.example." and
/// "xn--bcher-kva.example" are one host, and "[0:0::1]" and "::1" are one address.
/// </summary>
public sealed record EgressHost
{
    private EgressHost(string name, IPAddress? address)
    {
        Name = name;
        Address = address;
    }

    /// <summary>The canonical text: the DNS name, or the address without brackets.</summary>
    public string Name { get; }

    /// <summary>The address when the host is an IP literal; null for a DNS name.</summary>
    public IPAddress? Address { get; }

    public bool IsAddress => Address is not null;

    /// <summary>The host as it appears in an authority: IPv6 in brackets.</summary>
    public string ToAuthority(int port) =>
        Address is { AddressFamily: AddressFamily.InterNetworkV6 } ? $"[{Name}]:{port.ToString(CultureInfo.InvariantCulture)}" : $"{Name}:{port.ToString(CultureInfo.InvariantCulture)}";

    public override string ToString() => Address is { AddressFamily: AddressFamily.InterNetworkV6 } ? $"[{Name}]" : Name;

    /// <summary>An address as a host (the canonical form of a literal).</summary>
    public static EgressHost FromAddress(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        IPAddress canonical = Canonical(address);
        return new EgressHost(canonical.ToString(), canonical);
    }

    /// <summary>
    /// Parses and normalises a host: an IP literal (IPv6 with or without brackets) or a DNS name.
    /// Returns false with a reason that does not repeat the input (callers put the input in their message).
    /// </summary>
    public static bool TryParse(string text, out EgressHost host, out string error)
    {
        host = null!;
        if (text.Length == 0)
        {
            error = "the host is empty";
            return false;
        }
        if (text[0] == '[')
        {
            if (text[^1] != ']')
            {
                error = "an IPv6 literal opened with '[' must end with ']'";
                return false;
            }
            return TryParseIPv6(text[1..^1], out host, out error);
        }
        if (text.Contains(':'))
            return TryParseIPv6(text, out host, out error);
        if (LooksLikeIPv4(text))
        {
            if (!TryParseDottedQuad(text, out IPAddress? v4))
            {
                error = "is not a dotted-quad IPv4 address (four decimal numbers 0-255, no leading zeros)";
                return false;
            }
            host = FromAddress(v4);
            error = "";
            return true;
        }
        if (!TryNormaliseName(text, out string name, out error))
            return false;
        host = new EgressHost(name, null);
        return true;
    }

    /// <summary>
    /// Normalises a DNS name: one trailing dot stripped, lowercased, IDN labels converted to punycode,
    /// then checked as LDH labels (letters, digits, '-'; 1-63 characters; 253 in all) with a top label
    /// that is not all digits (so "127.1" or "1.2.3.4.5" is never mistaken for a name).
    /// </summary>
    internal static bool TryNormaliseName(string text, out string name, out string error)
    {
        name = "";
        string trimmed = text.EndsWith('.') ? text[..^1] : text;
        if (trimmed.Length == 0)
        {
            error = "the host name is empty";
            return false;
        }
        // Lowercase before IdnMapping: under invariant globalisation (which the AOT build uses) IdnMapping does no
        // case mapping, so "BÜCHER" would become a different punycode label than "bücher".
        string lower = trimmed.ToLowerInvariant();
        string ascii;
        if (lower.Any(c => c > 0x7f))
        {
            try
            {
                ascii = new IdnMapping { UseStd3AsciiRules = true }.GetAscii(lower);
            }
            catch (ArgumentException)
            {
                error = "is not a valid internationalised host name";
                return false;
            }
        }
        else
        {
            ascii = lower;
        }
        if (ascii.Length > 253)
        {
            error = "the host name is longer than 253 characters";
            return false;
        }
        string[] labels = ascii.Split('.');
        foreach (string label in labels)
        {
            if (!IsLdhLabel(label, out error))
                return false;
            if (label.StartsWith("xn--", StringComparison.Ordinal) && !IsValidPunycode(label))
            {
                error = $"'{label}' is not valid punycode";
                return false;
            }
        }
        if (labels[^1].All(char.IsAsciiDigit))
        {
            error = "the last label of a host name cannot be all digits (write IP addresses as dotted quads)";
            return false;
        }
        name = ascii;
        error = "";
        return true;
    }

    /// <summary>The address in the form allowlists compare: IPv4-mapped IPv6 folded to IPv4, scope dropped.</summary>
    internal static IPAddress Canonical(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
            return address.MapToIPv4();
        if (address.AddressFamily == AddressFamily.InterNetworkV6 && address.ScopeId != 0)
            return new IPAddress(address.GetAddressBytes());
        return address;
    }

    private static bool IsLdhLabel(string label, out string error)
    {
        if (label.Length is 0 or > 63)
        {
            error = label.Length == 0 ? "the host name has an empty label" : $"the label '{Printable(label[..20])}…' is longer than 63 characters";
            return false;
        }
        foreach (char c in label)
        {
            if (!char.IsAsciiLetterLower(c) && !char.IsAsciiDigit(c) && c != '-')
            {
                error = $"'{Printable(label)}' is not a valid DNS label (letters, digits and '-' only)";
                return false;
            }
        }
        if (label[0] == '-' || label[^1] == '-')
        {
            error = $"the label '{Printable(label)}' starts or ends with '-'";
            return false;
        }
        error = "";
        return true;
    }

    /// <summary>Untrusted text as it may appear in a message or log: control characters escaped, long input cut.</summary>
    internal static string Printable(string text)
    {
        string cut = text.Length > 200 ? text[..200] + "…" : text;
        return string.Concat(cut.Select(c => char.IsControl(c) ? $"\\x{(int)c:x2}" : c.ToString()));
    }

    private static bool IsValidPunycode(string label)
    {
        try
        {
            new IdnMapping().GetUnicode(label);
            return true;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    private static bool LooksLikeIPv4(string text) => text.All(c => char.IsAsciiDigit(c) || c == '.') && text.Any(char.IsAsciiDigit);

    /// <summary>
    /// Strict IPv4: IPAddress.TryParse also takes "127.1", "0x7f.1" and octal "010.0.0.1", forms that resolvers
    /// and URL parsers read differently; an allowlist must mean one address, so only a plain dotted quad passes.
    /// </summary>
    private static bool TryParseDottedQuad(string text, out IPAddress address)
    {
        address = IPAddress.None;
        string[] parts = text.Split('.');
        if (parts.Length != 4)
            return false;
        var bytes = new byte[4];
        for (int i = 0; i < 4; i++)
        {
            string part = parts[i];
            if (part.Length is 0 or > 3 || (part.Length > 1 && part[0] == '0') || !part.All(char.IsAsciiDigit))
                return false;
            int value = int.Parse(part, NumberStyles.None, CultureInfo.InvariantCulture);
            if (value > 255)
                return false;
            bytes[i] = (byte)value;
        }
        address = new IPAddress(bytes);
        return true;
    }

    private static bool TryParseIPv6(string text, out EgressHost host, out string error)
    {
        host = null!;
        // A zone ("%eth0") names an interface of this machine, not a destination anyone can allowlist.
        if (text.Contains('%'))
        {
            error = "IPv6 zone identifiers are not allowed";
            return false;
        }
        if (!text.Contains(':') || !IPAddress.TryParse(text, out IPAddress? address) || address.AddressFamily != AddressFamily.InterNetworkV6)
        {
            error = "is not a valid IPv6 address";
            return false;
        }
        host = FromAddress(address);
        error = "";
        return true;
    }
}
