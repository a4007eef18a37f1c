using System.Globalization;

namespace AutoReview.Gateway.Git;

/// <summary>A ref name or commit id was refused before it could reach git's argv. The message names the value and the rule.</summary>
public sealed class GitRefException(string value, string rule)
    : ArgumentException($"refused git revision '{Printable.Escape(value)}': {rule}")
{
    /// <summary>The value as given (unescaped; escape it before printing).</summary>
    public string Value { get; } = value;

    /// <summary>The rule the value broke, for people.</summary>
    public string Rule { get; } = rule;
}

/// <summary>
/// Validation of the revisions a user or a webhook names (<c>--base</c>, <c>--head</c>) before they become git
/// arguments. A SHA is 7–64 hex digits; a ref name must pass <c>git check-ref-format --allow-onelevel</c>'s
/// rules, re-implemented here so nothing untrusted is ever handed to git to judge. On top of git's rules a
/// name may not start with <c>-</c> (it would be read as an option, e.g. <c>--upload-pack=…</c>) or <c>+</c>
/// (it would force a refspec), and may not contain Unicode control or format characters (bidi overrides).
/// </summary>
public static class GitRefs
{
    /// <summary>The longest ref name accepted; git has no limit, but no honest branch name comes near it.</summary>
    public const int MaxRefNameLength = 1024;

    /// <summary>7–64 hex digits: an abbreviated or full SHA-1 or SHA-256 object id.</summary>
    public static bool IsSha(string value) =>
        value.Length is >= 7 and <= 64 && value.All(char.IsAsciiHexDigit);

    /// <summary>A full SHA-1 (40) or SHA-256 (64) object id, the only kind a server can be asked for.</summary>
    public static bool IsFullSha(string value) => value.Length is 40 or 64 && IsSha(value);

    /// <summary>Returns <paramref name="value"/> if it is a SHA; throws <see cref="GitRefException"/> otherwise.</summary>
    public static string ValidateSha(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        return IsSha(value) ? value : throw new GitRefException(value, "a commit id must be 7 to 64 hexadecimal digits");
    }

    /// <summary>Returns <paramref name="value"/> if it is a valid ref name; throws <see cref="GitRefException"/> naming the rule otherwise.</summary>
    public static string ValidateRefName(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        string? rule = RefNameViolation(value);
        return rule is null ? value : throw new GitRefException(value, rule);
    }

    /// <summary>Accepts a SHA or a ref name; throws <see cref="GitRefException"/> otherwise.</summary>
    public static string ValidateRevision(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        return IsSha(value) ? value : ValidateRefName(value);
    }

    /// <summary>
    /// Accepts what <see cref="ValidateRevision"/> accepts, optionally followed by ancestry steps (<c>HEAD~3</c>,
    /// <c>main^2</c>, <c>v1.0~</c>): revisions of a repository git has locally. A server can only be asked for
    /// ref names and full ids, so remote sources use <see cref="ValidateRevision"/>.
    /// </summary>
    public static string ValidateLocalRevision(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        int steps = value.IndexOfAny(['~', '^']);
        if (steps < 0)
            return ValidateRevision(value);
        if (steps == 0)
            throw new GitRefException(value, "an ancestry step ('~' or '^') must follow a ref name or commit id");
        string name = value[..steps];
        if (!IsSha(name) && RefNameViolation(name) is { } rule)
            throw new GitRefException(value, rule);
        for (int i = steps; i < value.Length;)
        {
            if (value[i] is not ('~' or '^'))
                throw new GitRefException(value, "after a ref name, only ancestry steps like ~2 or ^1 are allowed");
            int digits = 0;
            for (i++; i < value.Length && char.IsAsciiDigit(value[i]); i++)
                digits++;
            if (digits > 6)
                throw new GitRefException(value, "an ancestry step must be at most 6 digits");
        }
        return value;
    }

    /// <summary>The first rule <paramref name="value"/> breaks, or null if it is a valid ref name.</summary>
    public static string? RefNameViolation(string value)
    {
        if (value.Length == 0)
            return "a ref name must not be empty";
        if (value.Length > MaxRefNameLength)
            return $"a ref name must be at most {MaxRefNameLength} characters";
        if (value[0] == '-')
            return "a ref name must not start with '-' (it would be read as an option)";
        if (value[0] == '+')
            return "a ref name must not start with '+' (it would force a refspec)";
        if (value == "@")
            return "a ref name must not be '@'";
        foreach (char c in value)
        {
            if (c < 0x20 || c == 0x7f)
                return $"a ref name must not contain control characters (found \\x{(int)c:x2})";
            if (char.IsControl(c) || CharUnicodeInfo.GetUnicodeCategory(c) == UnicodeCategory.Format)
                return $"a ref name must not contain Unicode control or format characters (found U+{(int)c:X4})";
            switch (c)
            {
                case ' ': return "a ref name must not contain a space";
                case '~': case '^': case ':': case '?': case '*': case '[': case '\\':
                    return $"a ref name must not contain '{c}'";
            }
        }
        if (value.Contains("..", StringComparison.Ordinal))
            return "a ref name must not contain '..'";
        if (value.Contains("@{", StringComparison.Ordinal))
            return "a ref name must not contain '@{'";
        if (value[0] == '/' || value[^1] == '/')
            return "a ref name must not start or end with '/'";
        if (value.Contains("//", StringComparison.Ordinal))
            return "a ref name must not contain '//'";
        if (value[^1] == '.')
            return "a ref name must not end with '.'";
        foreach (string component in value.Split('/'))
        {
            if (component.StartsWith('.'))
                return $"a ref name component must not start with '.' ('{Printable.Escape(component)}')";
            if (component.EndsWith(".lock", StringComparison.Ordinal))
                return $"a ref name component must not end with '.lock' ('{Printable.Escape(component)}')";
        }
        return null;
    }
}
