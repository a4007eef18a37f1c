namespace AutoReview.TestInfrastructure;

/// <summary>
/// A working repository in a temp directory where a test writes files, commits and branches with real git,
/// then pushes every branch into a bare repository. The n-th commit is dated <see cref="HermeticGit.BaseDate"/>
/// + n minutes, so the same script always gives the same commit ids.
/// </summary>
/// <example>
/// <code>
/// using var git = new HermeticGit();
/// using var repo = await RepositoryBuilder.CreateAsync(git);                 // on branch main
/// await repo.CommitAsync("initial", ("A.txt", "a\n"), ("B.txt", "b\n"));
/// await repo.CreateBranchAsync("feature");                                   // from main, checked out
/// await repo.CommitAsync("feature work", ("C.txt", "X\n"), ("B.txt", "b changed\n"));
/// await repo.PushAsync(GitHttpsServer.CreateBareRepository(projectRoot, "demo.git"));
/// </code>
/// </example>
public sealed class RepositoryBuilder : IDisposable
{
    private readonly TemporaryDirectory directory;
    private int commitCount;

    private RepositoryBuilder(HermeticGit git, TemporaryDirectory directory, string branch)
    {
        Git = git;
        this.directory = directory;
        CurrentBranch = branch;
    }

    public HermeticGit Git { get; }

    /// <summary>The working tree (deleted on dispose).</summary>
    public string WorkingDirectory => directory.Path;

    /// <summary>The branch that is checked out.</summary>
    public string CurrentBranch { get; private set; }

    /// <summary>Runs <c>git init</c> in a fresh temp directory, on <paramref name="initialBranch"/>.</summary>
    public static async Task<RepositoryBuilder> CreateAsync(HermeticGit git, string initialBranch = "main")
    {
        var directory = new TemporaryDirectory("ar-git-work-");
        try
        {
            await git.RunCheckedAsync(directory.Path, ["init", "--quiet", $"--initial-branch={initialBranch}"]).ConfigureAwait(false);
            return new RepositoryBuilder(git, directory, initialBranch);
        }
        catch
        {
            directory.Dispose();
            throw;
        }
    }

    /// <summary>Writes (creates or replaces) a file, making parent directories; not yet committed.</summary>
    public RepositoryBuilder WriteFile(string relativePath, string content)
    {
        string path = Resolve(relativePath);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, content);
        return this;
    }

    /// <summary>Deletes a file from the working tree; not yet committed.</summary>
    public RepositoryBuilder DeleteFile(string relativePath)
    {
        string path = Resolve(relativePath);
        if (!File.Exists(path))
            throw new FileNotFoundException($"cannot delete {relativePath}: it is not in the working tree", path);
        File.Delete(path);
        return this;
    }

    /// <summary>Stages everything (<c>git add -A</c>) and commits; returns the new commit id.</summary>
    public async Task<string> CommitAsync(string message)
    {
        await Git.RunCheckedAsync(WorkingDirectory, ["add", "-A"]).ConfigureAwait(false);
        string date = HermeticGit.FormatDate(HermeticGit.BaseDate.AddMinutes(++commitCount));
        var dates = new Dictionary<string, string> { ["GIT_AUTHOR_DATE"] = date, ["GIT_COMMITTER_DATE"] = date };
        await Git.RunCheckedAsync(WorkingDirectory, ["commit", "--quiet", "--allow-empty", "-m", message], dates).ConfigureAwait(false);
        return await RevParseAsync("HEAD").ConfigureAwait(false);
    }

    /// <summary>Applies <paramref name="changes"/> (a null content deletes the file) and commits; returns the new commit id.</summary>
    public Task<string> CommitAsync(string message, params (string Path, string? Content)[] changes)
    {
        foreach ((string path, string? content) in changes)
        {
            if (content is null)
                DeleteFile(path);
            else
                WriteFile(path, content);
        }
        return CommitAsync(message);
    }

    /// <summary>Creates <paramref name="name"/> at <paramref name="startPoint"/> (default: HEAD) and checks it out.</summary>
    public async Task CreateBranchAsync(string name, string? startPoint = null)
    {
        await Git.RunCheckedAsync(WorkingDirectory, ["checkout", "--quiet", "-b", name, .. startPoint is null ? Array.Empty<string>() : [startPoint]]).ConfigureAwait(false);
        CurrentBranch = name;
    }

    /// <summary>Checks out an existing branch.</summary>
    public async Task CheckoutAsync(string branch)
    {
        await Git.RunCheckedAsync(WorkingDirectory, ["checkout", "--quiet", branch]).ConfigureAwait(false);
        CurrentBranch = branch;
    }

    /// <summary>The full commit id of <paramref name="revision"/>.</summary>
    public async Task<string> RevParseAsync(string revision) =>
        (await Git.RunCheckedAsync(WorkingDirectory, ["rev-parse", "--verify", "--end-of-options", revision + "^{commit}"]).ConfigureAwait(false)).Trim();

    /// <summary>Force-pushes every local branch (and tag) to the bare repository at <paramref name="bareRepositoryPath"/> over the local transport.</summary>
    public Task PushAsync(string bareRepositoryPath) =>
        Git.RunCheckedAsync(WorkingDirectory, ["push", "--quiet", "--force", bareRepositoryPath, "refs/heads/*:refs/heads/*", "refs/tags/*:refs/tags/*"]);

    public void Dispose() => directory.Dispose();

    private string Resolve(string relativePath)
    {
        string full = Path.GetFullPath(Path.Combine(WorkingDirectory, relativePath));
        string root = WorkingDirectory.EndsWith('/') ? WorkingDirectory : WorkingDirectory + "/";
        if (!full.StartsWith(root, StringComparison.Ordinal) || full.StartsWith(root + ".git/", StringComparison.Ordinal) || full == root + ".git")
            throw new ArgumentException($"'{relativePath}' is not a path inside the working tree", nameof(relativePath));
        return full;
    }
}
