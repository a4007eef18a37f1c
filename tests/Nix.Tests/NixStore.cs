using AutoReview.TestInfrastructure;

namespace AutoReview.Nix.Tests;

/// <summary>
/// A throwaway Nix store of the invoking user (`--store local?store=…`), so that the tests need neither root
/// nor the nix daemon, and leave /nix alone. Builds run without Nix's sandbox (they use the host's tools; see
/// nix/offline-bundle.nix) and without build users, as the invoking user.
/// </summary>
public sealed class NixStore : IDisposable
{
    public static readonly TimeSpan BuildTimeout = TimeSpan.FromMinutes(3);

    public NixStore()
    {
        // Nix refuses a store directory whose path goes through a symlink (TMPDIR may): resolve it.
        string temp = Directory.CreateTempSubdirectory("ar-nix-store-").FullName;
        CommandResult real = Commands.Run("realpath", [temp]);
        Root = real.ExitCode == 0 ? real.Stdout.Trim() : temp;
    }

    public string Root { get; }

    public string StoreDirectory => System.IO.Path.Combine(Root, "store");

    private string[] Options =>
    [
        "--store", $"local?store={Root}/store&state={Root}/state&log={Root}/log",
        "--option", "sandbox", "false",
        "--option", "substituters", "",
        "--option", "build-users-group", "",
    ];

    public CommandResult Instantiate(params string[] args) =>
        Commands.Run(HostTools.Path("nix-instantiate"), [.. Options, .. args], BuildTimeout);

    public CommandResult Build(params string[] args) =>
        Commands.Run(HostTools.Path("nix-build"), [.. Options, "--no-out-link", .. args], BuildTimeout);

    /// <summary>
    /// `nix-instantiate --eval --strict --json` of an expression; throws with Nix's message on failure. Paths in
    /// the expression must be absolute (see <see cref="PathLiteral"/>).
    /// </summary>
    public string EvalJson(string expression)
    {
        CommandResult result = Instantiate("--eval", "--strict", "--json", "-E", expression);
        if (result.ExitCode != 0)
            throw new InvalidOperationException($"nix-instantiate --eval failed for {expression}:\n{result}");
        return result.Stdout;
    }

    /// <summary>A Nix expression for an absolute path, whatever characters it holds.</summary>
    public static string PathLiteral(string path) => $"(/. + {StringLiteral(path)})";

    /// <summary>A Nix string literal: backslash, double quote and dollar (which could start ${…}) escaped.</summary>
    public static string StringLiteral(string text) =>
        "\"" + text.Replace("\\", "\\\\").Replace("\"", "\\\"").Replace("$", "\\$") + "\"";

    public void Dispose() => HostTools.DeleteTree(Root);
}
