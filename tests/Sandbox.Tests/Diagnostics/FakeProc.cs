namespace AutoReview.Sandbox.Tests.Diagnostics;

/// <summary>A fixture /proc tree in a temporary directory, deleted on Dispose.</summary>
internal sealed class FakeProc : IDisposable
{
    public string Root { get; } = Directory.CreateTempSubdirectory("fake-proc-").FullName;

    /// <summary>Writes <paramref name="content"/> at <paramref name="relativePath"/>, e.g. "self/status".</summary>
    public FakeProc Write(string relativePath, string content)
    {
        var path = Path.Combine(Root, relativePath);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, content);
        return this;
    }

    public void Dispose() => Directory.Delete(Root, recursive: true);
}
