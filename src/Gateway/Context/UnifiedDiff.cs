using System.Globalization;
using System.Text;

namespace AutoReview.Gateway.Context;

/// <summary>How a file changed between base and head.</summary>
/// <remarks>A mode-only change is <see cref="Modified"/> with <see cref="FileDiff.ModeChanged"/> set and no hunks.</remarks>
public enum FileStatus
{
    Added,
    Modified,
    Deleted,
    Renamed,
    Copied,
}

public enum DiffLineKind
{
    Context,
    Added,
    Removed,
}

/// <summary>One line of a hunk.</summary>
/// <param name="Text">The content without the diff prefix and without the line ending (a trailing CR is removed too).</param>
/// <param name="OldLine">1-based line in the old file for context and removed lines; 0 for added lines.</param>
/// <param name="NewLine">1-based line in the new file for context and added lines; 0 for removed lines.</param>
/// <param name="CarriageReturn">The line ended in CRLF. Kept apart from <paramref name="Text"/> so a CRLF file is not
/// mistaken for one with trailing whitespace on every line.</param>
/// <param name="NoNewlineAtEnd">git printed "\ No newline at end of file" after this line.</param>
public sealed record DiffLine(DiffLineKind Kind, string Text, int OldLine, int NewLine, bool CarriageReturn = false, bool NoNewlineAtEnd = false);

/// <summary>One <c>@@ -OldStart,OldCount +NewStart,NewCount @@ Section</c> hunk.</summary>
/// <param name="Section">The function/section heading git prints after the second <c>@@</c>, or empty.</param>
public sealed record DiffHunk(int OldStart, int OldCount, int NewStart, int NewCount, string Section, IReadOnlyList<DiffLine> Lines);

/// <summary>One file of a parsed diff.</summary>
public sealed class FileDiff
{
    /// <summary>The path in base (without the <c>a/</c> prefix); null for an added file.</summary>
    public required string? OldPath { get; init; }

    /// <summary>The path in head (without the <c>b/</c> prefix); null for a deleted file.</summary>
    public required string? NewPath { get; init; }

    /// <summary>The path a finding refers to: the head path, or the base path of a deleted file.</summary>
    public string Path => NewPath ?? OldPath!;

    public required FileStatus Status { get; init; }

    /// <summary>git's similarity index (percent) for renames and copies.</summary>
    public int? Similarity { get; init; }

    /// <summary>The octal mode in base (e.g. "100644"), when git printed one.</summary>
    public string? OldMode { get; init; }

    /// <summary>The octal mode in head, when git printed one.</summary>
    public string? NewMode { get; init; }

    public bool ModeChanged => OldMode is not null && NewMode is not null && OldMode != NewMode;

    /// <summary>git reported the content as binary ("Binary files … differ" or a binary patch); there are no hunks.</summary>
    public bool IsBinary { get; init; }

    /// <summary>The file's diff was over a size cap: it was parsed and counted, but its hunks were not kept.</summary>
    public bool IsTruncated { get; init; }

    /// <summary>Why the hunks were not kept, for people; null unless <see cref="IsTruncated"/>.</summary>
    public string? TruncationNote { get; init; }

    /// <summary>The hunks in diff order; empty for binary, truncated, mode-only and empty-file changes.</summary>
    public required IReadOnlyList<DiffHunk> Hunks { get; init; }

    /// <summary>Added lines, counted even when the hunks were not kept.</summary>
    public int AddedLines { get; init; }

    /// <summary>Removed lines, counted even when the hunks were not kept.</summary>
    public int RemovedLines { get; init; }

    /// <summary>The size of this file's part of the diff text, headers included.</summary>
    public long DiffBytes { get; init; }

    /// <summary>The 1-based line of the diff where this file's <c>diff --git</c> header is.</summary>
    public int DiffLineNumber { get; init; }

    public override string ToString() => $"{Status} {Path}";
}

/// <summary>A parsed diff: the files in git's order, plus notes for people about what was left out.</summary>
public sealed record UnifiedDiff(IReadOnlyList<FileDiff> Files, IReadOnlyList<string> Notes)
{
    public static UnifiedDiff Empty { get; } = new([], []);
}

/// <summary>Size caps for <see cref="UnifiedDiffParser"/>.</summary>
public sealed record UnifiedDiffOptions
{
    /// <summary>A file whose part of the diff is larger than this is summarised, not kept.</summary>
    public long MaxFileBytes { get; init; } = 256 * 1024;

    /// <summary>Once the kept files add up to this much, any file that would go over it is summarised.</summary>
    public long MaxTotalBytes { get; init; } = 4 * 1024 * 1024;
}

/// <summary>The diff text is malformed or names an unsafe path. The message names the diff line.</summary>
public sealed class DiffFormatException(int lineNumber, string message) : Exception(message)
{
    /// <summary>The 1-based line of the diff at fault.</summary>
    public int LineNumber { get; } = lineNumber;
}

/// <summary>
/// Parses the output of <c>git diff --no-color --no-ext-diff -U&lt;n&gt; --find-renames base...head</c>
/// (git's default <c>a/</c> and <c>b/</c> prefixes, no <c>--binary</c> needed).
/// </summary>
/// <remarks>
/// The input is untrusted: repository content chooses every path and line. The parser therefore checks the
/// structure strictly (hunk line counts must add up, unknown header lines are errors) instead of guessing, and
/// refuses any path that is absolute or has a <c>..</c>, <c>.</c> or empty component, whichever header it came
/// from, so nothing downstream can be steered out of the workspace by a crafted name.
/// </remarks>
public sealed class UnifiedDiffParser
{
    private static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: false);

    private readonly UnifiedDiffOptions options;

    public UnifiedDiffParser(UnifiedDiffOptions? options = null)
    {
        this.options = options ?? new UnifiedDiffOptions();
        if (this.options.MaxFileBytes <= 0 || this.options.MaxTotalBytes <= 0)
            throw new ArgumentOutOfRangeException(nameof(options), "size caps must be positive");
    }

    public UnifiedDiff Parse(string diff) => Parse(Utf8.GetBytes(diff));

    /// <summary>Parses raw git output. Content is decoded as UTF-8; invalid bytes become U+FFFD.</summary>
    public UnifiedDiff Parse(ReadOnlyMemory<byte> diff)
    {
        ReadOnlySpan<byte> data = diff.Span;
        List<(int Start, int Length)> lines = SplitLines(data);
        var files = new List<FileDiff>();
        var notes = new List<string>();
        long keptBytes = 0;

        int index = 0;
        while (index < lines.Count)
        {
            string header = Decode(data, lines[index]);
            if (!header.StartsWith("diff --git ", StringComparison.Ordinal))
            {
                if (header.StartsWith("diff --cc ", StringComparison.Ordinal) || header.StartsWith("diff --combined ", StringComparison.Ordinal))
                    throw Error(index, "combined (merge) diffs are not supported; diff base...head instead", header);
                throw Error(index, "expected a 'diff --git' header", header);
            }

            // A file's part runs to the next "diff --git" line. No hunk or binary-patch line can start with it
            // (hunk lines carry a ' ', '+', '-' or '\' prefix), so the split is exact before anything is parsed.
            int end = index + 1;
            while (end < lines.Count && !StartsWith(data, lines[end], "diff --"u8))
                end++;
            int sectionStart = lines[index].Start;
            int sectionEnd = end < lines.Count ? lines[end].Start : data.Length;
            long sectionBytes = sectionEnd - sectionStart;

            string? capNote = null;
            if (sectionBytes > options.MaxFileBytes)
                capNote = $"diff is {sectionBytes} bytes, over the per-file cap of {options.MaxFileBytes}; summarised, not inlined";
            else if (keptBytes + sectionBytes > options.MaxTotalBytes)
                capNote = $"diff is {sectionBytes} bytes and the total cap of {options.MaxTotalBytes} bytes is reached; summarised, not inlined";
            else
                keptBytes += sectionBytes;

            FileDiff file = ParseFile(data, lines, index, end, sectionBytes, capNote);
            if (capNote is not null)
                notes.Add($"{file.Path}: {capNote}");
            files.Add(file);
            index = end;
        }
        return new UnifiedDiff(files, notes);
    }

    private static FileDiff ParseFile(ReadOnlySpan<byte> data, List<(int Start, int Length)> lines, int start, int end, long sectionBytes, string? capNote)
    {
        bool keep = capNote is null;
        string header = Decode(data, lines[start]);
        (string? headerOld, string? headerNew) = ParseGitHeader(header, start);

        string? renameFrom = null, renameTo = null, copyFrom = null, copyTo = null, minusPath = null, plusPath = null;
        bool minusSeen = false, plusSeen = false;
        string? oldMode = null, newMode = null, indexMode = null;
        bool added = false, deleted = false, binary = false;
        int? similarity = null;

        int i = start + 1;
        for (; i < end; i++)
        {
            string line = Decode(data, lines[i]);
            if (line.StartsWith("@@ ", StringComparison.Ordinal) || line.StartsWith("--- ", StringComparison.Ordinal))
                break;
            if (line.StartsWith("Binary files ", StringComparison.Ordinal) && line.EndsWith(" differ", StringComparison.Ordinal))
            {
                binary = true;
                i++;
                break;
            }
            if (line == "GIT binary patch")
            {
                // --binary output: the base85 payload is of no use to a reviewer; skip the rest of the section.
                binary = true;
                i = end;
                break;
            }
            if (TryValue(line, "old mode ", out string value)) oldMode = Mode(value, i, line);
            else if (TryValue(line, "new mode ", out value)) newMode = Mode(value, i, line);
            else if (TryValue(line, "new file mode ", out value)) { added = true; newMode = Mode(value, i, line); }
            else if (TryValue(line, "deleted file mode ", out value)) { deleted = true; oldMode = Mode(value, i, line); }
            else if (TryValue(line, "rename from ", out value)) renameFrom = PathValue(value, i, line);
            else if (TryValue(line, "rename to ", out value)) renameTo = PathValue(value, i, line);
            else if (TryValue(line, "copy from ", out value)) copyFrom = PathValue(value, i, line);
            else if (TryValue(line, "copy to ", out value)) copyTo = PathValue(value, i, line);
            else if (TryValue(line, "similarity index ", out value)) similarity = Percent(value, i, line);
            else if (TryValue(line, "dissimilarity index ", out value)) _ = Percent(value, i, line);
            else if (TryValue(line, "index ", out value)) indexMode = IndexMode(value, i, line);
            else throw Error(i, "unrecognised file header line", line);
        }

        if (binary && i < end)
            throw Error(i, "unexpected line after 'Binary files … differ'", Decode(data, lines[i]));
        if (!binary && i < end && Decode(data, lines[i]).StartsWith("--- ", StringComparison.Ordinal))
        {
            string minus = Decode(data, lines[i]);
            minusPath = MarkerPath(minus["--- ".Length..], "a/", i, minus);
            minusSeen = true;
            i++;
            string plus = i < end ? Decode(data, lines[i]) : "";
            if (!plus.StartsWith("+++ ", StringComparison.Ordinal))
                throw Error(Math.Min(i, end - 1), "expected a '+++' line after '---'", plus);
            plusPath = MarkerPath(plus["+++ ".Length..], "b/", i, plus);
            plusSeen = true;
            i++;
        }

        var hunks = new List<DiffHunk>();
        int addedLines = 0, removedLines = 0;
        while (!binary && i < end)
        {
            string line = Decode(data, lines[i]);
            if (!line.StartsWith("@@ ", StringComparison.Ordinal))
                throw Error(i, "expected a hunk header ('@@ -a,b +c,d @@')", line);
            if (!minusSeen)
                throw Error(i, "hunk without '---'/'+++' file lines", line);
            i = ParseHunk(data, lines, i, end, keep, hunks, ref addedLines, ref removedLines);
        }

        FileStatus status = renameFrom is not null || renameTo is not null ? FileStatus.Renamed
            : copyFrom is not null || copyTo is not null ? FileStatus.Copied
            : added ? FileStatus.Added
            : deleted ? FileStatus.Deleted
            : FileStatus.Modified;

        // The most specific source wins: rename/copy lines, then ---/+++, then the "diff --git" header (which is
        // ambiguous for unquoted names with spaces, so it is only relied on when nothing else names the file).
        string? oldPath = status switch
        {
            FileStatus.Added => null,
            FileStatus.Renamed => renameFrom,
            FileStatus.Copied => copyFrom,
            _ => plusSeen ? minusPath : headerOld,
        };
        string? newPath = status switch
        {
            FileStatus.Deleted => null,
            FileStatus.Renamed => renameTo,
            FileStatus.Copied => copyTo,
            _ => plusSeen ? plusPath : headerNew,
        };
        if (status is FileStatus.Renamed or FileStatus.Copied && (oldPath is null || newPath is null))
            throw Error(start, "rename or copy without both 'from' and 'to' lines", header);
        if (oldPath is null && newPath is null)
            throw Error(start, "cannot tell the file name (quote-less name with spaces and no other header names it)", header);
        if (plusSeen && ((minusPath is null) != (status == FileStatus.Added) || (plusPath is null) != (status == FileStatus.Deleted)))
            throw Error(start, "'---'/'+++' lines disagree with the file's status", header);

        if (indexMode is not null)
        {
            oldMode ??= status == FileStatus.Added ? null : indexMode;
            newMode ??= status == FileStatus.Deleted ? null : indexMode;
        }

        return new FileDiff
        {
            OldPath = oldPath,
            NewPath = newPath,
            Status = status,
            Similarity = similarity,
            OldMode = oldMode,
            NewMode = newMode,
            IsBinary = binary,
            IsTruncated = !keep,
            TruncationNote = capNote,
            Hunks = keep ? hunks : [],
            AddedLines = addedLines,
            RemovedLines = removedLines,
            DiffBytes = sectionBytes,
            DiffLineNumber = start + 1,
        };
    }

    /// <summary>Parses the hunk whose header is at <paramref name="i"/>; returns the index of the line after it.</summary>
    private static int ParseHunk(ReadOnlySpan<byte> data, List<(int Start, int Length)> lines, int i, int end, bool keep,
        List<DiffHunk> hunks, ref int addedLines, ref int removedLines)
    {
        string header = Decode(data, lines[i]);
        (int oldStart, int oldCount, int newStart, int newCount, string section) = ParseHunkHeader(header, i);
        int headerIndex = i;
        var hunkLines = keep ? new List<DiffLine>(oldCount + newCount) : null;
        int oldLeft = oldCount, newLeft = newCount;
        int oldLine = oldStart, newLine = newStart;
        bool anyLine = false;
        i++;
        for (; i < end; i++)
        {
            ReadOnlySpan<byte> raw = data.Slice(lines[i].Start, lines[i].Length);
            if (raw.Length > 0 && raw[0] == (byte)'\\')
            {
                // "\ No newline at end of file" (the text is localised, so only the backslash is checked).
                if (!anyLine)
                    throw Error(i, "'\\' marker before any hunk line", Decode(data, lines[i]));
                if (hunkLines is not null)
                    hunkLines[^1] = hunkLines[^1] with { NoNewlineAtEnd = true };
                continue;
            }
            if (oldLeft == 0 && newLeft == 0)
                break;

            // git never prints an empty line inside a hunk, but patch tools that strip trailing blanks turn an
            // empty context line into one; git apply accepts it as context, and so does this parser.
            char kind = raw.Length == 0 ? ' ' : (char)raw[0];
            DiffLineKind lineKind;
            switch (kind)
            {
                case ' ':
                    if (oldLeft == 0 || newLeft == 0)
                        throw Error(i, "more context lines than the hunk header counts", Decode(data, lines[i]));
                    oldLeft--; newLeft--;
                    lineKind = DiffLineKind.Context;
                    break;
                case '+':
                    if (newLeft == 0)
                        throw Error(i, "more added lines than the hunk header counts", Decode(data, lines[i]));
                    newLeft--;
                    addedLines++;
                    lineKind = DiffLineKind.Added;
                    break;
                case '-':
                    if (oldLeft == 0)
                        throw Error(i, "more removed lines than the hunk header counts", Decode(data, lines[i]));
                    oldLeft--;
                    removedLines++;
                    lineKind = DiffLineKind.Removed;
                    break;
                default:
                    throw Error(i, "a hunk line must start with ' ', '+', '-' or '\\'", Decode(data, lines[i]));
            }
            anyLine = true;
            if (hunkLines is not null)
            {
                ReadOnlySpan<byte> content = raw.Length == 0 ? raw : raw[1..];
                bool cr = content.Length > 0 && content[^1] == (byte)'\r';
                if (cr)
                    content = content[..^1];
                hunkLines.Add(new DiffLine(
                    lineKind,
                    Utf8.GetString(content),
                    lineKind == DiffLineKind.Added ? 0 : oldLine,
                    lineKind == DiffLineKind.Removed ? 0 : newLine,
                    cr));
            }
            if (lineKind != DiffLineKind.Added) oldLine++;
            if (lineKind != DiffLineKind.Removed) newLine++;
        }
        if (oldLeft != 0 || newLeft != 0)
            throw Error(headerIndex, $"hunk ends early: {oldLeft} old and {newLeft} new lines missing", header);
        if (hunkLines is not null)
            hunks.Add(new DiffHunk(oldStart, oldCount, newStart, newCount, section, hunkLines));
        return i;
    }

    private static (int OldStart, int OldCount, int NewStart, int NewCount, string Section) ParseHunkHeader(string header, int index)
    {
        // "@@ -a[,b] +c[,d] @@[ section]"; a missing count means 1.
        int pos = 3;
        if (!Expect(header, ref pos, '-') || !Range(header, ref pos, out int oldStart, out int oldCount)
            || !Expect(header, ref pos, ' ') || !Expect(header, ref pos, '+') || !Range(header, ref pos, out int newStart, out int newCount)
            || !header.AsSpan(pos).StartsWith(" @@", StringComparison.Ordinal))
            throw Error(index, "malformed hunk header", header);
        pos += 3;
        string section = pos < header.Length && header[pos] == ' ' ? header[(pos + 1)..] : header[pos..];
        return (oldStart, oldCount, newStart, newCount, section);

        static bool Expect(string s, ref int p, char c)
        {
            if (p >= s.Length || s[p] != c) return false;
            p++;
            return true;
        }

        static bool Range(string s, ref int p, out int start, out int count)
        {
            count = 1;
            if (!Number(s, ref p, out start)) return false;
            if (p < s.Length && s[p] == ',')
            {
                p++;
                return Number(s, ref p, out count);
            }
            return true;
        }

        static bool Number(string s, ref int p, out int value)
        {
            int begin = p;
            while (p < s.Length && s[p] is >= '0' and <= '9') p++;
            return int.TryParse(s.AsSpan(begin, p - begin), NumberStyles.None, CultureInfo.InvariantCulture, out value);
        }
    }

    /// <summary>The a/ and b/ names of "diff --git a/x b/y", or nulls where they cannot be told apart.</summary>
    private static (string? Old, string? New) ParseGitHeader(string header, int index)
    {
        string rest = header["diff --git ".Length..];
        if (rest.StartsWith('"'))
        {
            int pos = 0;
            string a = Unquote(rest, ref pos, index, header);
            if (pos >= rest.Length || rest[pos] != ' ')
                throw Error(index, "malformed 'diff --git' header", header);
            string bRaw = rest[(pos + 1)..];
            string b = bRaw.StartsWith('"') ? UnquoteWhole(bRaw, index, header) : bRaw;
            return (StripPrefix(a, "a/", index, header), StripPrefix(b, "b/", index, header));
        }
        if (rest.EndsWith('"'))
        {
            // Unquoted a, quoted b: only a rename between an ordinary and an unusual name; its rename lines say
            // more exactly, but the quoted half still starts right after the last ' "b/'.
            int split = rest.LastIndexOf(" \"b/", StringComparison.Ordinal);
            if (split < 0)
                throw Error(index, "malformed 'diff --git' header", header);
            return (StripPrefix(rest[..split], "a/", index, header), StripPrefix(UnquoteWhole(rest[(split + 1)..], index, header), "b/", index, header));
        }
        // Unquoted "a/P b/P": without a rename both halves are the same path, which splits the line exactly
        // even when P contains spaces. Otherwise the rename/copy or ---/+++ lines name the files.
        if (rest.Length >= 7 && (rest.Length - 5) % 2 == 0)
        {
            int half = (rest.Length - 5) / 2;
            string p = rest.Substring(2, half);
            if (rest.StartsWith("a/", StringComparison.Ordinal) && rest.AsSpan(2 + half).SequenceEqual(" b/" + p))
            {
                string path = StripPrefix("a/" + p, "a/", index, header);
                return (path, path);
            }
        }
        return (null, null);
    }

    /// <summary>The name on a ---/+++ line: "/dev/null" (null), or a prefixed, possibly quoted, path.</summary>
    private static string? MarkerPath(string value, string prefix, int index, string line)
    {
        if (value == "/dev/null")
            return null;
        // git appends a tab to a name that contains a space, quoted or not (so patch(1) can find where it ends).
        // A tab inside a name is always quoted as \t, so a raw trailing tab is never part of the name.
        if (value.EndsWith('\t'))
            value = value[..^1];
        if (value.StartsWith('"'))
            return StripPrefix(UnquoteWhole(value, index, line), prefix, index, line);
        return StripPrefix(value, prefix, index, line);
    }

    /// <summary>The name on a rename/copy line: no prefix, possibly quoted.</summary>
    private static string PathValue(string value, int index, string line) =>
        CheckPath(value.StartsWith('"') ? UnquoteWhole(value, index, line) : value, index, line);

    private static string StripPrefix(string path, string prefix, int index, string line)
    {
        if (!path.StartsWith(prefix, StringComparison.Ordinal))
            throw Error(index, $"path '{Printable.Escape(path)}' lacks the '{prefix}' prefix (run git diff without --no-prefix or custom prefixes)", line);
        return CheckPath(path[prefix.Length..], index, line);
    }

    /// <summary>Refuses a path that could leave the workspace or confuse a consumer.</summary>
    internal static string CheckPath(string path, int index, string line)
    {
        string? reason = null;
        if (path.Length == 0) reason = "empty path";
        else if (path.StartsWith('/')) reason = "absolute path";
        else if (path.Contains('\0')) reason = "NUL in path";
        else
        {
            foreach (string component in path.Split('/'))
            {
                if (component == "..") { reason = "'..' component"; break; }
                if (component == ".") { reason = "'.' component"; break; }
                if (component.Length == 0) { reason = "empty path component"; break; }
            }
        }
        return reason is null ? path : throw Error(index, $"unsafe path '{Printable.Escape(path)}' ({reason})", line);
    }

    private static string UnquoteWhole(string value, int index, string line)
    {
        int pos = 0;
        string result = Unquote(value, ref pos, index, line);
        return pos == value.Length ? result : throw Error(index, "text after a quoted path", line);
    }

    /// <summary>Reads a C-style quoted name (git's quote_c_style) starting at <paramref name="pos"/>, which must be '"'.</summary>
    private static string Unquote(string value, ref int pos, int index, string line)
    {
        if (pos >= value.Length || value[pos] != '"')
            throw Error(index, "expected a quoted path", line);
        var bytes = new List<byte>(value.Length);
        Span<byte> utf8 = stackalloc byte[4];
        pos++;
        while (true)
        {
            if (pos >= value.Length)
                throw Error(index, "unterminated quoted path", line);
            char c = value[pos++];
            if (c == '"')
                break;
            if (c != '\\')
            {
                // Unescaped non-ASCII (core.quotePath=false) arrives already decoded; keep it as UTF-8.
                int n = new Rune(char.IsSurrogate(c) && pos < value.Length ? char.ConvertToUtf32(c, value[pos++]) : c).EncodeToUtf8(utf8);
                for (int k = 0; k < n; k++) bytes.Add(utf8[k]);
                continue;
            }
            if (pos >= value.Length)
                throw Error(index, "unterminated escape in quoted path", line);
            char e = value[pos++];
            switch (e)
            {
                case 'a': bytes.Add(7); break;
                case 'b': bytes.Add(8); break;
                case 't': bytes.Add(9); break;
                case 'n': bytes.Add(10); break;
                case 'v': bytes.Add(11); break;
                case 'f': bytes.Add(12); break;
                case 'r': bytes.Add(13); break;
                case '"': bytes.Add((byte)'"'); break;
                case '\\': bytes.Add((byte)'\\'); break;
                case >= '0' and <= '3':
                    if (pos + 2 > value.Length || value[pos] is < '0' or > '7' || value[pos + 1] is < '0' or > '7')
                        throw Error(index, "bad octal escape in quoted path", line);
                    bytes.Add((byte)(((e - '0') << 6) | ((value[pos] - '0') << 3) | (value[pos + 1] - '0')));
                    pos += 2;
                    break;
                default:
                    throw Error(index, $"unknown escape '\\{e}' in quoted path", line);
            }
        }
        return Utf8.GetString(bytes.ToArray());
    }

    private static bool TryValue(string line, string prefix, out string value)
    {
        if (line.StartsWith(prefix, StringComparison.Ordinal))
        {
            value = line[prefix.Length..];
            return true;
        }
        value = "";
        return false;
    }

    private static string Mode(string value, int index, string line)
    {
        if (value.Length is < 5 or > 6 || !value.All(c => c is >= '0' and <= '7'))
            throw Error(index, "malformed file mode", line);
        return value;
    }

    private static string? IndexMode(string value, int index, string line)
    {
        // "index abc123..def456[ 100644]"
        int space = value.IndexOf(' ', StringComparison.Ordinal);
        string ids = space < 0 ? value : value[..space];
        int dots = ids.IndexOf("..", StringComparison.Ordinal);
        if (dots <= 0 || !IsHex(ids.AsSpan(0, dots)) || !IsHex(ids.AsSpan(dots + 2)))
            throw Error(index, "malformed 'index' line", line);
        return space < 0 ? null : Mode(value[(space + 1)..], index, line);

        static bool IsHex(ReadOnlySpan<char> s) => s.Length > 0 && s.IndexOfAnyExcept("0123456789abcdef") < 0;
    }

    private static int Percent(string value, int index, string line) =>
        value.EndsWith('%') && int.TryParse(value.AsSpan(0, value.Length - 1), NumberStyles.None, CultureInfo.InvariantCulture, out int percent) && percent <= 100
            ? percent
            : throw Error(index, "malformed similarity index", line);

    private static List<(int Start, int Length)> SplitLines(ReadOnlySpan<byte> data)
    {
        var lines = new List<(int, int)>();
        int start = 0;
        while (start < data.Length)
        {
            int newline = data[start..].IndexOf((byte)'\n');
            int length = newline < 0 ? data.Length - start : newline;
            lines.Add((start, length));
            start += length + 1;
        }
        return lines;
    }

    private static bool StartsWith(ReadOnlySpan<byte> data, (int Start, int Length) line, ReadOnlySpan<byte> prefix) =>
        data.Slice(line.Start, line.Length).StartsWith(prefix);

    private static string Decode(ReadOnlySpan<byte> data, (int Start, int Length) line) => Utf8.GetString(data.Slice(line.Start, line.Length));

    private static DiffFormatException Error(int index, string reason, string line) =>
        new(index + 1, $"diff line {index + 1}: {reason}: {Printable.Escape(line)}");
}
