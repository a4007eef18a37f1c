using System.Diagnostics;

namespace AutoReview.TestInfrastructure;

/// <summary>The built single-file binary the tests run (AUTO_REVIEW_BIN, as test.sh sets it, or dist/auto-review).</summary>
public static class AutoReviewBinary
{
    public static string Path { get; } = Locate();

    private static string Locate()
    {
        string? fromEnv = Environment.GetEnvironmentVariable("AUTO_REVIEW_BIN");
        if (!string.IsNullOrEmpty(fromEnv))
            return File.Exists(fromEnv) ? fromEnv : throw new FileNotFoundException($"AUTO_REVIEW_BIN={fromEnv} does not exist; run ./build.sh");
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = System.IO.Path.Combine(dir.FullName, "dist", "auto-review");
            if (File.Exists(System.IO.Path.Combine(dir.FullName, "AutoReview.sln")))
                return File.Exists(candidate) ? candidate : throw new FileNotFoundException($"{candidate} does not exist; run ./build.sh (test.sh does)");
        }
        throw new FileNotFoundException("cannot find the repository root (AutoReview.sln) above the test binaries");
    }
}

/// <summary>The result of running a command to completion.</summary>
public sealed record CommandResult(int ExitCode, string Stdout, string Stderr)
{
    public override string ToString() => $"exit {ExitCode}\n--- stdout\n{Stdout}\n--- stderr\n{Stderr}";
}

public static class Commands
{
    /// <summary>Runs to completion with this process's environment plus <paramref name="environment"/>.</summary>
    public static CommandResult Run(string file, IEnumerable<string> args, TimeSpan? timeout = null,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        using Process process = Start(file, args, environment);
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(timeout ?? TimeSpan.FromSeconds(60)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', args)} did not finish in time");
        }
        return new CommandResult(process.ExitCode, stdout.Result, stderr.Result);
    }

    public static Process Start(string file, IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment = null)
    {
        var start = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (string arg in args) start.ArgumentList.Add(arg);
        foreach ((string key, string value) in environment ?? new Dictionary<string, string>()) start.Environment[key] = value;
        return Process.Start(start)!;
    }

    public static CommandResult AutoReview(params string[] args) => Run(AutoReviewBinary.Path, args);
}
