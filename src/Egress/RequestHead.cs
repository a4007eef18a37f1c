using System.Text;

namespace AutoReview.Egress;

/// <summary>A parsed request head: either a well-formed CONNECT target, or the refusal to answer with.</summary>
internal readonly record struct HeadParse(EgressHost? Host, int Port, int RefusalStatus, string? RefusalReason)
{
    public bool IsConnect => RefusalStatus == 0;

    public static HeadParse Connect(EgressHost host, int port) => new(host, port, 0, null);

    public static HeadParse Refuse(int status, string reason) => new(null, 0, status, reason);
}

/// <summary>
/// Reads the head of an HTTP/1.1 request to a proxy and accepts only <c>CONNECT host:port HTTP/1.1</c>.
/// Plain-HTTP forwarding (<c>GET http://…</c>) is deliberately unsupported: git and .NET use CONNECT for
/// https, and a forwarding proxy would have to parse and re-send requests, which means more attack surface and
/// credentials in absolute URLs passing through this process.
/// </summary>
internal static class RequestHead
{
    private static ReadOnlySpan<byte> EndOfHead => "\r\n\r\n"u8;

    /// <summary>The index just past the blank line ending the head, or -1 when it has not arrived yet.</summary>
    /// <param name="searchFrom">Where new bytes may complete the terminator (callers pass the old length minus 3).</param>
    public static int FindEnd(ReadOnlySpan<byte> received, int searchFrom)
    {
        int start = Math.Max(0, searchFrom);
        int at = received[start..].IndexOf(EndOfHead);
        return at < 0 ? -1 : start + at + EndOfHead.Length;
    }

    /// <summary>Parses a complete head (including its final CRLF CRLF).</summary>
    /// <remarks>Refusal reasons never quote the request beyond a validated method token: a refused request may carry credentials.</remarks>
    public static HeadParse Parse(ReadOnlySpan<byte> head)
    {
        int lineEnd = head.IndexOf("\r\n"u8);
        ReadOnlySpan<byte> requestLine = head[..lineEnd];
        // Visible ASCII and single spaces only: no NUL, bare CR/LF, tabs or UTF-8 that parsers disagree about.
        foreach (byte b in requestLine)
        {
            if (b is < 0x20 or > 0x7e)
                return HeadParse.Refuse(400, "the request line holds characters other than printable ASCII");
        }
        string line = Encoding.ASCII.GetString(requestLine);
        string[] parts = line.Split(' ');
        if (parts.Length != 3 || parts.Any(p => p.Length == 0))
            return HeadParse.Refuse(400, "the request line is not 'METHOD TARGET HTTP/1.1'");
        (string method, string target, string version) = (parts[0], parts[1], parts[2]);
        if (!IsHttpVersion(version))
            return HeadParse.Refuse(400, "the request line does not end in an HTTP version");
        if (!method.All(IsTokenChar))
            return HeadParse.Refuse(400, "the request method is not a token");
        if (method != "CONNECT")
        {
            string shown = method.Length > 16 ? method[..16] + "…" : method;
            return HeadParse.Refuse(405, $"method {shown} is not supported: this proxy only opens CONNECT tunnels (https)");
        }
        if (version != "HTTP/1.1")
            return HeadParse.Refuse(505, $"{version} is not supported: send CONNECT with HTTP/1.1");

        if (!HeaderLinesAreWellFormed(head[(lineEnd + 2)..]))
            return HeadParse.Refuse(400, "a header line is malformed");

        // Authority form only (RFC 9110 §9.3.6): no scheme, user information or path, and the port is required.
        if (target.Contains('@') || target.Contains('/'))
            return HeadParse.Refuse(400, "the CONNECT target must be host:port");
        if (!Authority.TrySplit(target, defaultPort: null, out string hostText, out int port, out string error))
            return HeadParse.Refuse(400, $"the CONNECT target is invalid: {error}");
        if (!EgressHost.TryParse(hostText, out EgressHost host, out error))
            return HeadParse.Refuse(400, $"the CONNECT host is invalid: {error}");
        return HeadParse.Connect(host, port);
    }

    /// <summary>Every header line is "name: value" with a token name; no obsolete line folding (a smuggling vector).</summary>
    private static bool HeaderLinesAreWellFormed(ReadOnlySpan<byte> fields)
    {
        while (true)
        {
            int end = fields.IndexOf("\r\n"u8);
            if (end <= 0)
                return end == 0; // the blank line that ends the head
            ReadOnlySpan<byte> field = fields[..end];
            int colon = field.IndexOf((byte)':');
            if (colon <= 0)
                return false;
            foreach (byte b in field[..colon])
            {
                if (!IsTokenChar((char)b))
                    return false;
            }
            foreach (byte b in field[(colon + 1)..])
            {
                if (b is 0 or (byte)'\r' or (byte)'\n')
                    return false;
            }
            fields = fields[(end + 2)..];
        }
    }

    private static bool IsHttpVersion(string version) =>
        version.Length == 8 && version.StartsWith("HTTP/", StringComparison.Ordinal)
        && char.IsAsciiDigit(version[5]) && version[6] == '.' && char.IsAsciiDigit(version[7]);

    // RFC 9110 §5.6.2 tchar.
    private static bool IsTokenChar(char c) => char.IsAsciiLetterOrDigit(c) || "!#$%&'*+-.^_`|~".Contains(c);
}
