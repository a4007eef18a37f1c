using System.Security.Cryptography;
using System.Text.Json;
using AutoReview.TestInfrastructure;
using Shouldly;
using Xunit;

namespace AutoReview.Nix.Tests;

/// <summary>
/// The flake's sysroot (nix/sysroot.nix → nix/make-sysroot.sh) against the real C# builder, without nixpkgs: a
/// synthetic /nix/store is made from this host's git, libraries and CA bundle, re-linked with patchelf the way
/// Nix links (PT_INTERP and DT_RUNPATH pointing into /nix/store), with git behind a makeWrapper-style script.
/// The rootfs built from it must take everything from the store copy, nothing from the host's /usr/lib, and the
/// git in it must run.
/// </summary>
[Trait("Category", "Nix")]
public sealed class NixSysrootTests : IDisposable
{
    private const string Glibc = "/nix/store/00000000000000000000000000000001-glibc-2.36";
    private const string Libraries = "/nix/store/00000000000000000000000000000002-curl-and-friends";
    private const string OpenSsl = "/nix/store/00000000000000000000000000000003-openssl-3";
    private const string Git = "/nix/store/00000000000000000000000000000004-git-minimal";
    private const string CaCert = "/nix/store/00000000000000000000000000000005-nss-cacert";
    private const string RunPath = $"{Libraries}/lib:{OpenSsl}/lib:{Glibc}/lib";

    private readonly NixStore _store = new();
    private readonly string _work = Directory.CreateTempSubdirectory("ar-nix-sysroot-").FullName;

    public void Dispose()
    {
        _store.Dispose();
        HostTools.DeleteTree(_work);
    }

    private string Work(params string[] parts) => Path.Combine([_work, .. parts]);

    private static string Repo(params string[] parts) => Path.Combine([Tools.RepositoryRoot, .. parts]);

    [SkippableFact]
    public void ARootfsFromANixShapedSysroot_TakesEverythingFromTheStore_PassesTheContracts_AndItsGitRuns()
    {
        HostTools.Require("nix-instantiate", "patchelf", "jq");
        string source = Work("source");
        MakeSyntheticStore(source);

        // nix/sysroot.nix, step by step: the links from nix/sysroot-links.nix, the closure, the library directories.
        using JsonDocument links = JsonDocument.Parse(_store.EvalJson(
            $"import {NixStore.PathLiteral(Repo("nix", "sysroot-links.nix"))} {{ git = {NixStore.StringLiteral(Git)}; cacert = {NixStore.StringLiteral(CaCert)}; }}"));
        File.WriteAllText(Work("links"), string.Concat(links.RootElement.EnumerateArray()
            .Select(l => $"{l.GetProperty("path").GetString()}\t{l.GetProperty("target").GetString()}\n")));
        File.WriteAllLines(Work("closure"), [Glibc, Libraries, OpenSsl, Git, CaCert]);
        File.WriteAllLines(Work("libdirs"), [$"{OpenSsl}/lib", $"{Glibc}/lib"]);
        string sysroot = Work("sysroot");
        Run("/bin/bash", Repo("nix", "make-sysroot.sh"), sysroot, Work("links"), Work("closure"), Work("libdirs"), source)
            .Stderr.ShouldContain($"{Git}/bin/git is a wrapper script");

        string executable = Work("auto-review");
        File.Copy(AutoReviewBinary.Path, executable);
        Run(AutoReviewBinary.Path, "bundle", "build", "--spec", Repo("src", "Bundle", "rootfs-spec.json"), "--sysroot", sysroot,
            "--source-date-epoch", "0", "--layer-out", Work("layer.tar.gz"), "--manifest-out", Work("manifest.json"), "--embed-into", executable);

        using JsonDocument manifest = JsonDocument.Parse(File.ReadAllText(Work("manifest.json")));
        var files = manifest.RootElement.GetProperty("files").EnumerateArray()
            .ToDictionary(f => "/" + f.GetProperty("path").GetString(), f => f);
        var libraries = files.Keys.Where(p => p.Contains(".so")).ToList();
        libraries.ShouldNotBeEmpty();
        libraries.ShouldAllBe(p => p.StartsWith("/nix/store/"), "every library must come from the store copy, none from the host's /usr/lib or /lib");
        files.ShouldContainKey($"{Glibc}/lib/ld-linux-x86-64.so.2", "the interpreter, at its PT_INTERP path");
        files.ShouldContainKey($"{Libraries}/lib/libcurl-gnutls.so.4", "found through DT_RUNPATH");
        files.ShouldContainKey($"{OpenSsl}/lib/libssl.so.3", "a dlopen library, found through the sysroot's etc/ld.so.conf");
        Sha256Of(files["/usr/bin/git"]).ShouldBe(Sha256(Path.Combine(source, Git[1..], "bin", ".git-wrapped")), "the ELF file behind the wrapper script");
        Sha256Of(files["/etc/ssl/certs/ca-certificates.crt"]).ShouldBe(Sha256("/etc/ssl/certs/ca-certificates.crt"));

        // The flake's checks, on this single file, with the spec as Nix evaluates it.
        File.WriteAllText(Work("spec.json"), _store.EvalJson($"import {NixStore.PathLiteral(Repo("nix", "rootfs-spec.nix"))}"));
        foreach (string contract in new[] { "contents", "no-shell", "config" })
            Run("/bin/bash", Repo("nix", "check-bundle.sh"), contract, executable, Work("spec.json"), Work("manifest.json"))
                .Stdout.ShouldStartWith($"ok: {contract}:");

        // And the git of that rootfs runs: interpreter and libraries at their /nix/store paths, in the sandbox.
        CommandResult git = Commands.Run(executable, ["sandbox", "run", "--", "/usr/bin/git", "--version"], TimeSpan.FromMinutes(1),
            new Dictionary<string, string> { ["AUTO_REVIEW_CACHE_DIR"] = Work("cache") });
        git.ExitCode.ShouldBe(0, git.ToString());
        git.Stdout.ShouldStartWith("git version ");
    }

    /// <summary>
    /// A stand-in for nixpkgs' glibc, libraries, openssl, git and cacert: this host's files, in store paths, with
    /// PT_INTERP and DT_RUNPATH rewritten to point into /nix/store (DT_RUNPATH is not inherited, so every object
    /// gets its own, as Nix links them).
    /// </summary>
    private void MakeSyntheticStore(string source)
    {
        string At(string storePath, params string[] parts) => Path.Combine([source, storePath[1..], .. parts]);

        // The host's closure, as the C# builder resolves it for ./build.sh.
        Run(AutoReviewBinary.Path, "bundle", "build", "--spec", Repo("src", "Bundle", "rootfs-spec.json"), "--source-date-epoch", "0",
            "--layer-out", Work("host.tar.gz"), "--manifest-out", Work("host.json"));
        using JsonDocument host = JsonDocument.Parse(File.ReadAllText(Work("host.json")));
        foreach (string path in host.RootElement.GetProperty("files").EnumerateArray()
                     .Where(f => f.GetProperty("kind").GetString() == "File").Select(f => f.GetProperty("path").GetString()!)
                     .Where(p => p.Contains(".so")))
        {
            string name = Path.GetFileName(path);
            string package = name switch
            {
                "ld-linux-x86-64.so.2" or "libc.so.6" or "libm.so.6" or "libresolv.so.2" => Glibc,
                "libssl.so.3" or "libcrypto.so.3" => OpenSsl,
                _ => Libraries,
            };
            Copy("/" + path, At(package, "lib", name));
            if (package != Glibc)
                Run("patchelf", "--set-rpath", RunPath, At(package, "lib", name));
        }

        // nixpkgs' makeWrapper leaves the program as .NAME-wrapped beside a shell script.
        Copy("/usr/bin/git", At(Git, "bin", ".git-wrapped"));
        File.WriteAllText(At(Git, "bin", "git"), "#!/bin/sh\nexec \"$(dirname \"$0\")/.git-wrapped\" \"$@\"\n");
        File.SetUnixFileMode(At(Git, "bin", "git"), (UnixFileMode)0x1ed);
        Copy("/usr/lib/git-core/git-remote-http", At(Git, "libexec", "git-core", "git-remote-http"));
        foreach (string program in new[] { At(Git, "bin", ".git-wrapped"), At(Git, "libexec", "git-core", "git-remote-http") })
            Run("patchelf", "--set-interpreter", $"{Glibc}/lib/ld-linux-x86-64.so.2", "--set-rpath", RunPath, program);
        Copy("/etc/ssl/certs/ca-certificates.crt", At(CaCert, "etc", "ssl", "certs", "ca-bundle.crt"));
    }

    private static void Copy(string from, string to)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(to)!);
        File.Copy(from, to); // follows symlinks: the file's bytes, as a store path holds them
        File.SetUnixFileMode(to, File.GetUnixFileMode(from) | UnixFileMode.UserWrite);
    }

    private static CommandResult Run(string file, params string[] args)
    {
        CommandResult result = Commands.Run(file.Contains('/') ? file : HostTools.Path(file), args, TimeSpan.FromMinutes(2));
        result.ExitCode.ShouldBe(0, $"{file} {string.Join(' ', args)}\n{result}");
        return result;
    }

    private static string Sha256Of(JsonElement file) => file.GetProperty("sha256").GetString()!;

    private static string Sha256(string path) => Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(path)));
}
