using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using AutoReview.TestInfrastructure;
using Shouldly;
using Xunit;

namespace AutoReview.Review.Tests;

/// <summary>
/// A review stopped by a signal while git waits on the network: the status says which signal, git does not live
/// on, and the temporary directory is gone. Isolated, the sandbox's init passes the signal on; with --bare, the
/// outer process does, and the gateway kills the git process tree it is running.
/// </summary>
[Trait("Category", "Review")]
public sealed class SignalTests : IDisposable
{
    private readonly TemporaryDirectory tmp = new("ar-signal-tmp-");

    public void Dispose() => tmp.Dispose();

    [SkippableTheory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task SIGTERM_while_git_waits_ends_the_review_with_143_and_leaves_nothing_behind(bool bare)
    {
        Sandboxes.Require();
        // Accepts and never answers: git hangs in the TLS handshake until it is stopped.
        using var silent = new TcpListener(IPAddress.Loopback, 0);
        silent.Start();
        int port = ((IPEndPoint)silent.LocalEndpoint).Port;
        string url = $"https://127.0.0.1:{port}/repo.git";
        var start = new ProcessStartInfo(AutoReviewBinary.Path)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string arg in (string[])["review", url, "--head", "feature", .. bare ? ["--bare"] : Array.Empty<string>()])
            start.ArgumentList.Add(arg);
        start.Environment["TMPDIR"] = tmp.Path;
        using Process review = Process.Start(start)!;
        Task<string> stderr = review.StandardError.ReadToEndAsync();

        using Socket connection = await silent.AcceptSocketAsync().WaitAsync(TimeSpan.FromSeconds(60));
        CommandResult kill = Commands.Run("/usr/bin/kill", ["-TERM", review.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        kill.ExitCode.ShouldBe(0, kill.ToString());
        review.WaitForExit(60_000).ShouldBeTrue("the review did not end after SIGTERM");

        string log = await stderr;
        review.ExitCode.ShouldBe(143, log);
        log.ShouldContain("auto-review: gateway: stopped by signal 15", Case.Sensitive, log);
        log.ShouldContain("auto-review: the gateway stopped on signal 15; no report", Case.Sensitive, log);
        Directory.EnumerateFileSystemEntries(tmp.Path).ShouldBeEmpty("the review left temporary files");
        ProcessesNaming(url).ShouldBeEmpty("git outlived the review");
    }

    /// <summary>This user's processes whose command line contains <paramref name="text"/>.</summary>
    private static List<string> ProcessesNaming(string text)
    {
        var found = new List<string>();
        foreach (string directory in Directory.EnumerateDirectories("/proc"))
        {
            try
            {
                string commandLine = File.ReadAllText(Path.Combine(directory, "cmdline")).Replace('\0', ' ');
                if (commandLine.Contains(text, StringComparison.Ordinal))
                    found.Add($"{Path.GetFileName(directory)}: {commandLine}");
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Gone meanwhile, or not ours.
            }
        }
        return found;
    }
}
