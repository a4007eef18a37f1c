using System.Text.RegularExpressions;

namespace AutoReview.Gateway;

/// <summary>
/// Removes secrets from text before it reaches a log, an exception or a report: every occurrence of each given
/// secret, any <c>Bearer …</c> credential whatever its value (a proxy or server may echo a header back), and the
/// userinfo of any URL (<c>https://user:token@host</c>).
/// </summary>
public static partial class Redaction
{
    public const string Placeholder = "[REDACTED]";

    /// <summary>Secrets shorter than this are not searched for: replacing every "a" in a log helps no one, and a
    /// real API key is never that short.</summary>
    public const int MinSecretLength = 4;

    public static string Redact(string? text, params ReadOnlySpan<string?> secrets)
    {
        if (string.IsNullOrEmpty(text))
            return text ?? "";
        foreach (string? secret in secrets)
        {
            if (secret is { Length: >= MinSecretLength })
                text = text.Replace(secret, Placeholder, StringComparison.Ordinal);
        }
        text = UrlUserInfo().Replace(text, "${scheme}" + Placeholder + "@");
        return BearerCredential().Replace(text, "Bearer " + Placeholder);
    }

    [GeneratedRegex(@"(?<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?!\[REDACTED\]@)[^/@\s]+@")]
    private static partial Regex UrlUserInfo();

    [GeneratedRegex(@"\bBearer\s+(?!\[REDACTED\])[^\s""',;]+", RegexOptions.CultureInvariant | RegexOptions.IgnoreCase)]
    private static partial Regex BearerCredential();
}
