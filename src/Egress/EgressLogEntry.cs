using System.Globalization;

namespace AutoReview.Egress;

/// <summary>How one client connection to the proxy ended.</summary>
public enum EgressOutcome
{
    /// <summary>The tunnel was opened (200) and has now closed; the entry carries the bytes relayed.</summary>
    Allowed,

    /// <summary>The destination is not allowed (403): not in the allowlist, or it resolves to a non-public address.</summary>
    Denied,

    /// <summary>The request itself was refused: not CONNECT (405), malformed (400), too large (431), too slow (408), or the proxy was full (503).</summary>
    Rejected,

    /// <summary>The destination was allowed but could not be reached: DNS failure or connection error (502), timeout (504).</summary>
    Failed,
}

/// <summary>
/// One line of the proxy's log, given to <see cref="ConnectProxyOptions.Log"/> when a connection ends.
/// Carries no request bytes beyond the validated host and port: no headers (Proxy-Authorization), no URLs
/// from non-CONNECT requests (they may hold credentials), no tunnel content.
/// </summary>
/// <param name="Time">When the client connected.</param>
/// <param name="Client">The client's address as the listening socket reports it.</param>
/// <param name="Host">The requested host in canonical form, or null when the request named no valid host.</param>
/// <param name="Port">The requested port, or 0 when the request named none.</param>
/// <param name="Status">The HTTP status the proxy answered, or 0 when it sent none (the client left first).</param>
/// <param name="Reason">Why the connection was refused or how the tunnel ended; null for a tunnel that ended normally.</param>
/// <param name="BytesUp">Tunnel bytes from the client to the destination.</param>
/// <param name="BytesDown">Tunnel bytes from the destination to the client.</param>
public sealed record EgressLogEntry(
    DateTimeOffset Time,
    string Client,
    string? Host,
    int Port,
    EgressOutcome Decision,
    int Status,
    string? Reason,
    long BytesUp,
    long BytesDown,
    TimeSpan Duration)
{
    /// <summary>The host:port as the log names it, IPv6 in brackets.</summary>
    public string Destination =>
        Host is null ? "(none)" : (Host.Contains(':') ? $"[{Host}]" : Host) + ":" + Port.ToString(CultureInfo.InvariantCulture);

    /// <summary>One line for people: "egress denied evil.example:443 from 127.0.0.1:40000 (403): … ".</summary>
    public override string ToString()
    {
        string verb = Decision switch
        {
            EgressOutcome.Allowed => "allowed",
            EgressOutcome.Denied => "denied",
            EgressOutcome.Rejected => "rejected",
            _ => "failed",
        };
        string status = Status == 0 ? "" : $" ({Status.ToString(CultureInfo.InvariantCulture)})";
        string bytes = Decision == EgressOutcome.Allowed
            ? $", {BytesUp.ToString(CultureInfo.InvariantCulture)} bytes up, {BytesDown.ToString(CultureInfo.InvariantCulture)} down in {Duration.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture)} s"
            : "";
        string reason = Reason is null ? "" : ": " + Reason;
        return $"{Time.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture)} egress {verb} {Destination} from {Client}{status}{reason}{bytes}";
    }
}
