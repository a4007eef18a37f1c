using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using AutoReview.TestInfrastructure;
using Shouldly;
using Xunit;

namespace AutoReview.Review.Tests;

/// <summary>
/// The sandbox's only way out is the egress proxy: <c>sandbox run --network proxy --allow-host 127.0.0.1:A</c>
/// reaches the forge on port A, while another listening loopback port B is refused by the proxy (and logged), and
/// cannot be reached directly either, because the sandbox's network namespace has nothing listening on it.
/// </summary>
[Trait("Category", "Review")]
public sealed class EgressTests : IClassFixture<ForgeFixture>, IDisposable
{
    private readonly ForgeFixture forge;

    /// <summary>Port B: listening on the host's loopback, never allowed. It must never see a connection.</summary>
    private readonly TcpListener other = new(IPAddress.Loopback, 0);

    public EgressTests(ForgeFixture forge)
    {
        this.forge = forge;
        other.Start();
    }

    private int OtherPort => ((IPEndPoint)other.LocalEndpoint).Port;

    public void Dispose() => other.Stop();

    private string[] ProxySandbox(params string[] command) =>
        ["sandbox", "run", "--network", "proxy", "--allow-host", $"127.0.0.1:{forge.Port}", "--ca-file", forge.CaFile, "--", .. command];

    [SkippableFact]
    public void The_allowed_forge_is_reached_through_the_proxy()
    {
        Sandboxes.Require();
        int before = forge.Server.Requests.Count;

        CommandResult result = Run.AutoReview(ProxySandbox("/usr/bin/git", "ls-remote", forge.RepositoryUrl));

        result.ExitCode.ShouldBe(0, result.ToString());
        result.Stdout.ShouldContain($"{forge.BaseSha}\trefs/heads/main\n");
        result.Stdout.ShouldContain($"{forge.HeadSha}\trefs/heads/feature\n");
        result.Stdout.ShouldContain($"{forge.HeadSha}\tHEAD\n");
        result.Stderr.ShouldContain($" egress allowed 127.0.0.1:{forge.Port} from ");
        forge.Server.Requests.Skip(before).ShouldContain(r => r.Path == "/repo.git/info/refs" && r.StatusCode == 200);
    }

    [SkippableFact]
    public void Another_loopback_port_is_denied_by_the_proxy_and_the_denial_is_logged()
    {
        Sandboxes.Require();

        CommandResult result = Run.AutoReview(ProxySandbox("/usr/bin/git", "ls-remote", $"https://127.0.0.1:{OtherPort}/x.git"));

        result.ExitCode.ShouldBe(128, result.ToString()); // git's status for a failed fetch
        result.Stderr.ShouldMatch($@"auto-review: \d{{4}}-\d\d-\d\dT[0-9:.]+Z egress denied 127\.0\.0\.1:{OtherPort} from ");
        result.Stderr.ShouldContain("fatal: unable to access");
        other.Pending().ShouldBeFalse("port B saw a connection: the proxy let it through");
    }

    [SkippableFact]
    public void Another_loopback_port_cannot_be_reached_directly_from_the_sandbox()
    {
        Sandboxes.Require();

        // The probe connects to 127.0.0.1:B itself, not through the proxy: the sandbox's own loopback has nothing there.
        CommandResult probe = Run.AutoReview(ProxySandbox("/usr/bin/auto-review", "sandbox", "probe", "--json", "--port", OtherPort.ToString()));
        using (JsonDocument report = JsonDocument.Parse(probe.Stdout))
        {
            JsonElement check = report.RootElement.GetProperty("checks").EnumerateArray()
                .Single(c => c.GetProperty("name").GetString() == $"network:host-port-{OtherPort}");
            // 111 is ECONNREFUSED on Linux (the probe's errno table names it, or prints the number).
            check.GetProperty("observed").GetString().ShouldBe("ECONNREFUSED", probe.ToString());
            check.GetProperty("ok").GetBoolean().ShouldBeTrue(probe.ToString());
        }

        // git without the proxy variables goes direct, and is refused the same way.
        string[] noProxy = ["--setenv", "HTTPS_PROXY", "", "--setenv", "https_proxy", "", "--setenv", "ALL_PROXY", "", "--setenv", "all_proxy", ""];
        CommandResult direct = Run.AutoReview(["sandbox", "run", "--network", "proxy", "--allow-host", $"127.0.0.1:{forge.Port}", .. noProxy,
            "--", "/usr/bin/git", "ls-remote", $"https://127.0.0.1:{OtherPort}/x.git"]);
        direct.ExitCode.ShouldBe(128, direct.ToString());
        direct.Stderr.ShouldContain($"Failed to connect to 127.0.0.1 port {OtherPort}");
        direct.Stderr.ShouldNotContain("egress denied"); // it never asked the proxy

        other.Pending().ShouldBeFalse("port B saw a connection from inside the sandbox");
    }
}
