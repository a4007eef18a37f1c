using System.Globalization;
using System.Text;

namespace AutoReview.Gateway;

/// <summary>
/// Turns untrusted text (diff lines, paths) into something safe to put in an error message or a report:
/// control characters become visible escapes, so a crafted path cannot forge extra lines in a log or a comment.
/// </summary>
public static class Printable
{
    public const int DefaultMaxChars = 200;

    public static string Escape(string text, int maxChars = DefaultMaxChars)
    {
        var builder = new StringBuilder(Math.Min(text.Length, maxChars) + 8);
        foreach (char c in text)
        {
            if (builder.Length >= maxChars)
            {
                builder.Append('…');
                break;
            }
            switch (c)
            {
                case '\n': builder.Append("\\n"); break;
                case '\r': builder.Append("\\r"); break;
                case '\t': builder.Append("\\t"); break;
                default:
                    if (char.IsControl(c))
                        builder.Append("\\x").Append(((int)c).ToString("x2", CultureInfo.InvariantCulture));
                    else
                        builder.Append(c);
                    break;
            }
        }
        return builder.ToString();
    }
}
