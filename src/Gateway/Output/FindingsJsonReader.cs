using System.Text.Json;
using AutoReview.Gateway.Review;

namespace AutoReview.Gateway.Output;

/// <summary>The findings and notes of a JSON report.</summary>
public sealed record FindingsReport(IReadOnlyList<Finding> Findings, IReadOnlyList<string> Notes);

/// <summary>
/// Reads back what <see cref="FindingsWriter.ToJson"/> writes, e.g. when the outer process relays the inner
/// gateway's result in another format. The input crossed a trust boundary (it came out of the sandbox), so it is
/// validated strictly with <see cref="JsonDocument"/> (no reflection, NativeAOT-safe) and errors name the field.
/// </summary>
public static class FindingsJsonReader
{
    public static FindingsReport Read(ReadOnlyMemory<byte> json)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 16 });
        }
        catch (JsonException e)
        {
            throw new FormatException($"findings JSON is malformed: {e.Message}", e);
        }
        using (document)
        {
            JsonElement root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw new FormatException("findings JSON: the top level must be an object");
            JsonElement list = Property(root, "findings", JsonValueKind.Array, "$");
            var findings = new List<Finding>(list.GetArrayLength());
            int index = 0;
            foreach (JsonElement item in list.EnumerateArray())
            {
                string where = $"findings[{index++}]";
                if (item.ValueKind != JsonValueKind.Object)
                    throw new FormatException($"findings JSON: {where} must be an object");
                string path = Property(item, "path", JsonValueKind.String, where).GetString()!;
                JsonElement lineElement = Property(item, "line", JsonValueKind.Number, where);
                if (!lineElement.TryGetInt32(out int line) || line < 0)
                    throw new FormatException($"findings JSON: {where}.line must be a non-negative integer");
                string severityName = Property(item, "severity", JsonValueKind.String, where).GetString()!;
                if (!SeverityNames.TryParse(severityName, out Severity severity))
                    throw new FormatException($"findings JSON: {where}.severity '{Printable.Escape(severityName)}' is not note, warning or error");
                string rule = Property(item, "rule", JsonValueKind.String, where).GetString()!;
                string message = Property(item, "message", JsonValueKind.String, where).GetString()!;
                if (path.Length == 0 || rule.Length == 0)
                    throw new FormatException($"findings JSON: {where} has an empty path or rule");
                findings.Add(new Finding(path, line, severity, rule, message));
            }

            var notes = new List<string>();
            if (root.TryGetProperty("notes", out JsonElement notesElement))
            {
                if (notesElement.ValueKind != JsonValueKind.Array)
                    throw new FormatException("findings JSON: notes must be an array");
                foreach (JsonElement note in notesElement.EnumerateArray())
                {
                    notes.Add(note.ValueKind == JsonValueKind.String
                        ? note.GetString()!
                        : throw new FormatException("findings JSON: every note must be a string"));
                }
            }
            return new FindingsReport(FindingOrder.Sort(findings), notes);
        }
    }

    private static JsonElement Property(JsonElement element, string name, JsonValueKind kind, string where) =>
        element.TryGetProperty(name, out JsonElement value) && value.ValueKind == kind
            ? value
            : throw new FormatException($"findings JSON: {where}.{name} is missing or not a {kind.ToString().ToLowerInvariant()}");
}
