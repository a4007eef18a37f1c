using AutoReview.Gateway.Git;
using AutoReview.TestInfrastructure;

namespace AutoReview.Gateway.Tests.Git;

/// <summary>Tests that change this process's environment run alone, so no other test's processes see the canaries.</summary>
[Xunit.CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ProcessEnvironmentCollection
{
    public const string Name = "process environment";
}

internal static class GitTestSupport
{
    public static string GitPath { get; } = FindGit();

    private static string FindGit()
    {
        using var git = new HermeticGit();
        return git.GitPath;
    }

    public static GitSourceOptions Options(TemporaryDirectory home, IReadOnlyDictionary<string, string>? allowlisted = null, string? token = null) => new()
    {
        GitPath = GitPath,
        HomeDirectory = home.Path,
        AllowlistedEnvironment = allowlisted,
        Token = token,
        Timeout = TimeSpan.FromSeconds(60),
    };

    public static GitRunner Runner(TemporaryDirectory home, IEnumerable<string>? secrets = null, TimeSpan? timeout = null) =>
        new(GitPath, HermeticGitEnvironment.Create(home.Path), secrets, timeout ?? TimeSpan.FromSeconds(60));

    /// <summary>Makes a tree writable again so it can be deleted.</summary>
    public static void MakeWritable(string path)
    {
        foreach (string entry in Directory.EnumerateFileSystemEntries(path, "*", SearchOption.AllDirectories).Prepend(path))
        {
            if (File.GetAttributes(entry).HasFlag(FileAttributes.ReparsePoint))
                continue;
            File.SetUnixFileMode(entry, File.GetUnixFileMode(entry) | UnixFileMode.UserWrite);
        }
    }

    /// <summary>Removes write permission everywhere under <paramref name="path"/> (chmod -R a-w).</summary>
    public static void MakeReadOnly(string path)
    {
        foreach (string entry in Directory.EnumerateFileSystemEntries(path, "*", SearchOption.AllDirectories).Append(path))
        {
            if (File.GetAttributes(entry).HasFlag(FileAttributes.ReparsePoint))
                continue;
            File.SetUnixFileMode(entry, File.GetUnixFileMode(entry) & ~(UnixFileMode.UserWrite | UnixFileMode.GroupWrite | UnixFileMode.OtherWrite));
        }
    }

    public static void CopyDirectory(string source, string destination)
    {
        Directory.CreateDirectory(destination);
        foreach (string directory in Directory.EnumerateDirectories(source, "*", SearchOption.AllDirectories))
            Directory.CreateDirectory(Path.Combine(destination, Path.GetRelativePath(source, directory)));
        foreach (string file in Directory.EnumerateFiles(source, "*", SearchOption.AllDirectories))
        {
            string target = Path.Combine(destination, Path.GetRelativePath(source, file));
            File.Copy(file, target);
            File.SetUnixFileMode(target, File.GetUnixFileMode(file));
        }
    }
}
