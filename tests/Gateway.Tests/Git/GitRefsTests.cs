using AutoReview.Gateway.Git;
using Shouldly;
using Xunit;

namespace AutoReview.Gateway.Tests.Git;

public sealed class GitRefsTests
{
    [Theory]
    [InlineData("main")]
    [InlineData("HEAD")]
    [InlineData("feature/login-form")]
    [InlineData("refs/heads/release-1.2")]
    [InlineData("refs/pull/12/head")]
    [InlineData("v1.0.0")]
    [InlineData("a.b/c.d")]
    [InlineData("user@host")]
    [InlineData("naïve-ünïcode")]
    public void Valid_ref_names_are_accepted(string name) => GitRefs.ValidateRefName(name).ShouldBe(name);

    [Theory]
    [InlineData("--upload-pack=evil", "must not start with '-'")]
    [InlineData("-n", "must not start with '-'")]
    [InlineData("+main", "must not start with '+'")]
    [InlineData("HEAD@{1}", "'@{'")]
    [InlineData("@", "must not be '@'")]
    [InlineData("a..b", "'..'")]
    [InlineData("x.lock", "'.lock'")]
    [InlineData("refs/heads/x.lock/y", "'.lock'")]
    [InlineData("refs/.hidden", "must not start with '.'")]
    [InlineData(".main", "must not start with '.'")]
    [InlineData("main.", "must not end with '.'")]
    [InlineData("main/", "must not start or end with '/'")]
    [InlineData("/main", "must not start or end with '/'")]
    [InlineData("a//b", "'//'")]
    [InlineData("a b", "space")]
    [InlineData("a~1", "'~'")]
    [InlineData("a^", "'^'")]
    [InlineData("a:b", "':'")]
    [InlineData("a?", "'?'")]
    [InlineData("a*", "'*'")]
    [InlineData("a[0]", "'['")]
    [InlineData("a\\b", "'\\'")]
    [InlineData("a\nb", "control characters (found \\x0a)")]
    [InlineData("a\u007fb", "control characters (found \\x7f)")]
    [InlineData("a\u0085b", "Unicode control or format characters (found U+0085)")]
    [InlineData("main\u202Eevil", "Unicode control or format characters (found U+202E)")]
    [InlineData("", "must not be empty")]
    public void Invalid_ref_names_are_refused_naming_the_rule(string name, string rule)
    {
        GitRefException e = Should.Throw<GitRefException>(() => GitRefs.ValidateRefName(name));
        e.Message.ShouldContain(rule);
        e.Message.ShouldNotContain("\n");
    }

    [Fact]
    public void The_refusal_escapes_control_characters_in_the_value()
    {
        GitRefException e = Should.Throw<GitRefException>(() => GitRefs.ValidateRevision("main\nfatal: forged log line"));
        e.Message.ShouldStartWith("refused git revision 'main\\nfatal: forged log line': ");
    }

    [Theory]
    [InlineData("abcdef1", true)]
    [InlineData("0123456789abcdef0123456789abcdef01234567", true)]
    [InlineData("0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef", true)]
    [InlineData("abcdef", false)]
    [InlineData("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0", false)]
    [InlineData("abcdefg", false)]
    [InlineData("-abcdef1", false)]
    public void Sha_is_7_to_64_hex_digits(string value, bool valid)
    {
        GitRefs.IsSha(value).ShouldBe(valid);
        if (valid)
            GitRefs.ValidateSha(value).ShouldBe(value);
        else
            Should.Throw<GitRefException>(() => GitRefs.ValidateSha(value)).Message.ShouldContain("7 to 64 hexadecimal digits");
    }

    [Theory]
    [InlineData("HEAD~3")]
    [InlineData("main^2")]
    [InlineData("v1.0~")]
    [InlineData("feature/x^^~2")]
    [InlineData("abcdef1~1")]
    [InlineData("main")]
    public void Local_revisions_may_end_in_ancestry_steps(string value) => GitRefs.ValidateLocalRevision(value).ShouldBe(value);

    [Theory]
    [InlineData("~1", "must follow a ref name")]
    [InlineData("--upload-pack=x~1", "must not start with '-'")]
    [InlineData("main~1:path", "only ancestry steps")]
    [InlineData("main^{tree}", "only ancestry steps")]
    [InlineData("main@{1}~1", "'@{'")]
    [InlineData("main~1234567", "at most 6 digits")]
    [InlineData("main~1 ; rm", "only ancestry steps")]
    public void Local_revisions_refuse_everything_else(string value, string rule) =>
        Should.Throw<GitRefException>(() => GitRefs.ValidateLocalRevision(value)).Message.ShouldContain(rule);
}
