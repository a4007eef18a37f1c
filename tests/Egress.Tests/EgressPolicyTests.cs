using System.Net;
using Shouldly;
using Xunit;

namespace AutoReview.Egress.Tests;

public sealed class EgressPolicyTests
{
    [Theory]
    [InlineData("github.com", "github.com", 443)]
    [InlineData("GitHub.COM.", "github.com", 443)]
    [InlineData("api.example.com:8443", "api.example.com", 8443)]
    [InlineData("bücher.example", "xn--bcher-kva.example", 443)]
    [InlineData("BÜCHER.example.:444", "xn--bcher-kva.example", 444)]
    [InlineData("127.0.0.1:8080", "127.0.0.1", 8080)]
    [InlineData("[::1]:8443", "::1", 8443)]
    [InlineData("::1", "::1", 443)]
    [InlineData("[0:0:0:0:0:0:0:1]", "::1", 443)]
    [InlineData("[::ffff:127.0.0.1]:80", "127.0.0.1", 80)]
    public void Entries_AreNormalised(string text, string host, int port)
    {
        AllowEntry entry = AllowEntry.Parse(text);
        entry.Host.Name.ShouldBe(host);
        entry.Port.ShouldBe(port);
    }

    [Theory]
    [InlineData("exa mple.com", "not a valid DNS label")]
    [InlineData("", "empty")]
    [InlineData("example.com:0", "not a port")]
    [InlineData("example.com:65536", "not a port")]
    [InlineData("example.com:+443", "not a port")]
    [InlineData("example.com:", "not a port")]
    [InlineData("https://example.com", "not a URL")]
    [InlineData("user@example.com", "not a URL")]
    [InlineData("example.com/path", "not a URL")]
    [InlineData("*.com", "two labels")]
    [InlineData("a*.example.com", "leftmost label")]
    [InlineData("*", "leftmost label")]
    [InlineData("-bad.example.com", "starts or ends with '-'")]
    [InlineData("a..example.com", "empty label")]
    [InlineData("127.1", "dotted-quad")]
    [InlineData("010.0.0.1", "dotted-quad")]
    [InlineData("256.0.0.1", "dotted-quad")]
    [InlineData("1.2.3.4.5", "dotted-quad")]
    [InlineData("[::1", "must end with ']'")]
    [InlineData("[fe80::1%eth0]", "zone")]
    [InlineData("under_score.example.com", "not a valid DNS label")]
    [InlineData("xn--zz.example", "punycode")]
    public void BadEntries_AreRefused_WithAMessageNamingTheEntry(string text, string why)
    {
        var e = Should.Throw<EgressPolicyException>(() => EgressPolicy.Parse([text]));
        e.Message.ShouldStartWith($"--allow-host {text}: ");
        e.Message.ShouldContain(why);
    }

    [Fact]
    public void TheMessage_NamesTheOptionTheEntryCameFrom()
    {
        var e = Should.Throw<EgressPolicyException>(() => AllowEntry.Parse("a b", "LLM_BASE_URL host"));
        e.Message.ShouldStartWith("LLM_BASE_URL host a b: ");
    }

    [Fact]
    public void ControlCharacters_InABadEntry_AreEscapedInTheMessage()
    {
        var e = Should.Throw<EgressPolicyException>(() => AllowEntry.Parse("evil\u001b[31m.com"));
        e.Message.ShouldNotContain("\u001b");
        e.Message.ShouldContain("\\x1b");
    }

    [Fact]
    public void ANameIsAllowed_OnlyOnItsPort()
    {
        EgressPolicy policy = EgressPolicy.Parse(["github.com", "llm.example.com:8443"]);
        policy.Decide("github.com", 443).IsAllowed.ShouldBeTrue();
        policy.Decide("GITHUB.com.", 443).IsAllowed.ShouldBeTrue();
        policy.Decide("llm.example.com", 8443).IsAllowed.ShouldBeTrue();

        EgressDecision otherPort = policy.Decide("github.com", 22);
        otherPort.IsAllowed.ShouldBeFalse();
        otherPort.Reason.ShouldBe("github.com:22 is not in the egress allowlist (the host is allowed, but on other ports only)");
        policy.Decide("gist.github.com", 443).IsAllowed.ShouldBeFalse();
        policy.Decide("github.com.evil.example", 443).IsAllowed.ShouldBeFalse();
        policy.Decide("evilgithub.com", 443).Reason.ShouldBe("evilgithub.com:443 is not in the egress allowlist");
    }

    [Fact]
    public void IdnNames_MatchInEitherForm()
    {
        EgressPolicy policy = EgressPolicy.Parse(["bücher.example"]);
        policy.Decide("xn--bcher-kva.example", 443).IsAllowed.ShouldBeTrue();
        policy.Decide("BÜCHER.EXAMPLE", 443).IsAllowed.ShouldBeTrue();
        policy.Decide("bucher.example", 443).IsAllowed.ShouldBeFalse();
    }

    [Fact]
    public void AWildcard_MatchesNamesBelowTheDomain_NotTheDomainItself()
    {
        EgressPolicy policy = EgressPolicy.Parse(["*.openai.azure.com"]);
        policy.Decide("tenant.openai.azure.com", 443).IsAllowed.ShouldBeTrue();
        policy.Decide("a.b.openai.azure.com", 443).IsAllowed.ShouldBeTrue();
        policy.Decide("openai.azure.com", 443).IsAllowed.ShouldBeFalse();
        policy.Decide("evilopenai.azure.com", 443).IsAllowed.ShouldBeFalse();
        policy.Decide("tenant.openai.azure.com", 80).IsAllowed.ShouldBeFalse();
    }

    [Fact]
    public void IpLiterals_AreAllowedOnlyWhenListedLiterally()
    {
        EgressPolicy byName = EgressPolicy.Parse(["localhost:8080", "*.example.com"]);
        EgressDecision denied = byName.Decide("127.0.0.1", 8080);
        denied.IsAllowed.ShouldBeFalse();
        denied.Reason!.ShouldContain("only when listed literally");

        EgressPolicy literal = EgressPolicy.Parse(["127.0.0.1:8080", "[::1]:8080"]);
        literal.Decide("127.0.0.1", 8080).IsAllowed.ShouldBeTrue();
        literal.Decide("[::1]", 8080).IsAllowed.ShouldBeTrue();
        literal.Decide("0:0::1", 8080).IsAllowed.ShouldBeTrue();
        literal.Decide("::ffff:127.0.0.1", 8080).IsAllowed.ShouldBeTrue();
        literal.Decide("127.0.0.2", 8080).IsAllowed.ShouldBeFalse();
        // Shorthand forms that some resolvers read as 127.0.0.1 are not that address and not names either.
        literal.Decide("127.1", 8080).IsAllowed.ShouldBeFalse();
        literal.Decide("2130706433", 8080).IsAllowed.ShouldBeFalse();
        literal.AllowsLiteral(IPAddress.Loopback, 8080).ShouldBeTrue();
        literal.AllowsLiteral(IPAddress.Parse("::ffff:127.0.0.1"), 8080).ShouldBeTrue();
        literal.AllowsLiteral(IPAddress.Loopback, 8081).ShouldBeFalse();
    }

    [Fact]
    public void AnInvalidHost_IsDenied_NotThrown()
    {
        EgressDecision decision = EgressPolicy.Parse(["example.com"]).Decide("exa mple.com", 443);
        decision.IsAllowed.ShouldBeFalse();
        decision.Host.ShouldBeNull();
        decision.Reason!.ShouldStartWith("not a valid host");
    }

    [Fact]
    public void DenyAll_DeniesEverything() =>
        EgressPolicy.DenyAll.Decide("example.com", 443).IsAllowed.ShouldBeFalse();

    [Fact]
    public void EntriesFromUrls_TakeTheHostAndPort()
    {
        AllowEntry.FromUri(new Uri("https://Forge.Example.com/org/repo.git"), "repository").ToString().ShouldBe("forge.example.com:443");
        AllowEntry.FromUri(new Uri("https://127.0.0.1:8443/repo.git"), "repository").ToString().ShouldBe("127.0.0.1:8443");
        AllowEntry.FromUri(new Uri("https://[::1]:8443/repo.git"), "repository").ToString().ShouldBe("[::1]:8443");
        AllowEntry.FromUri(new Uri("https://bücher.example/"), "LLM_BASE_URL").ToString().ShouldBe("xn--bcher-kva.example:443");
        Should.Throw<EgressPolicyException>(() => AllowEntry.FromUri(new Uri("file:///tmp/repo"), "repository"));
    }

    [Fact]
    public void Duplicates_AreKeptOnce()
    {
        EgressPolicy policy = EgressPolicy.Parse(["github.com", "GITHUB.COM.", "github.com:443"]);
        policy.Entries.Count.ShouldBe(1);
        policy.With([AllowEntry.Parse("api.example.com")]).Entries.Select(e => e.ToString()).ShouldBe(["github.com:443", "api.example.com:443"]);
    }
}
