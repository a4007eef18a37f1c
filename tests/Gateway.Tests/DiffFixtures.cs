using System.Text;
using AutoReview.Gateway.Context;
using AutoReview.TestInfrastructure;

namespace AutoReview.Gateway.Tests;

/// <summary>
/// A real repository with a base commit on <c>main</c> and a <c>feature</c> branch, and the exact diff command the
/// gateway runs between them. Parser tests read git's own output, not hand-written imitations of it.
/// </summary>
internal sealed class DiffRepository : IDisposable
{
    private readonly HermeticGit git;

    private DiffRepository(HermeticGit git, RepositoryBuilder repo)
    {
        this.git = git;
        Repo = repo;
    }

    public RepositoryBuilder Repo { get; }

    public string WorkingDirectory => Repo.WorkingDirectory;

    /// <summary>Commits <paramref name="baseFiles"/> on main, then creates and checks out <c>feature</c>.</summary>
    public static async Task<DiffRepository> CreateAsync(params (string Path, string? Content)[] baseFiles)
    {
        var git = new HermeticGit();
        RepositoryBuilder? repo = null;
        try
        {
            repo = await RepositoryBuilder.CreateAsync(git);
            await repo.CommitAsync("base", baseFiles);
            await repo.CreateBranchAsync("feature");
            return new DiffRepository(git, repo);
        }
        catch
        {
            repo?.Dispose();
            git.Dispose();
            throw;
        }
    }

    public Task CommitAsync(params (string Path, string? Content)[] changes) => Repo.CommitAsync("change", changes);

    public void WriteBytes(string path, byte[] content)
    {
        string full = Path.Combine(WorkingDirectory, path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        File.WriteAllBytes(full, content);
    }

    /// <summary><c>git diff --no-color --no-ext-diff -U3 --find-renames main...feature</c>, as the gateway runs it.</summary>
    public async Task<string> DiffAsync() =>
        await git.RunCheckedAsync(WorkingDirectory, ["diff", "--no-color", "--no-ext-diff", "-U3", "--find-renames", "main...feature"]);

    public async Task<UnifiedDiff> ParseAsync(UnifiedDiffOptions? options = null) => new UnifiedDiffParser(options).Parse(await DiffAsync());

    public void Dispose()
    {
        Repo.Dispose();
        git.Dispose();
    }
}

/// <summary>Small diffs written by hand, for rule tests and for hostile input git would never print.</summary>
internal static class Diffs
{
    public static string AddedFile(string path, params string[] lines)
    {
        var text = new StringBuilder();
        text.Append($"diff --git a/{path} b/{path}\nnew file mode 100644\nindex 0000000..1234567\n--- /dev/null\n+++ b/{path}\n");
        text.Append($"@@ -0,0 +1,{lines.Length} @@\n");
        foreach (string line in lines)
            text.Append('+').Append(line).Append('\n');
        return text.ToString();
    }

    public static string DeletedFile(string path, params string[] lines)
    {
        var text = new StringBuilder();
        text.Append($"diff --git a/{path} b/{path}\ndeleted file mode 100644\nindex 1234567..0000000\n--- a/{path}\n+++ /dev/null\n");
        text.Append($"@@ -1,{lines.Length} +0,0 @@\n");
        foreach (string line in lines)
            text.Append('-').Append(line).Append('\n');
        return text.ToString();
    }

    /// <summary>A modification replacing <paramref name="removed"/> with <paramref name="added"/> at line 1.</summary>
    public static string Modified(string path, string[] removed, string[] added)
    {
        var text = new StringBuilder();
        text.Append($"diff --git a/{path} b/{path}\nindex 1234567..89abcde 100644\n--- a/{path}\n+++ b/{path}\n");
        text.Append($"@@ -1,{removed.Length} +1,{added.Length} @@\n");
        foreach (string line in removed)
            text.Append('-').Append(line).Append('\n');
        foreach (string line in added)
            text.Append('+').Append(line).Append('\n');
        return text.ToString();
    }

    public static string BinaryAdded(string path) =>
        $"diff --git a/{path} b/{path}\nnew file mode 100644\nindex 0000000..1234567\nBinary files /dev/null and b/{path} differ\n";

    public static ReviewContext Context(params string[] parts) => ReviewContext.Build(new UnifiedDiffParser().Parse(string.Concat(parts)));
}
