using System.Text;
using Shouldly;
using Xunit;

namespace AutoReview.Egress.Tests;

public sealed class RequestHeadTests
{
    private static HeadParse Parse(string head) => RequestHead.Parse(Encoding.Latin1.GetBytes(head));

    [Theory]
    [InlineData("CONNECT github.com:443 HTTP/1.1\r\nHost: github.com:443\r\n\r\n", "github.com", 443)]
    [InlineData("CONNECT GitHub.com.:443 HTTP/1.1\r\n\r\n", "github.com", 443)]
    [InlineData("CONNECT [::1]:8443 HTTP/1.1\r\nProxy-Connection: Keep-Alive\r\n\r\n", "::1", 8443)]
    [InlineData("CONNECT 127.0.0.1:80 HTTP/1.1\r\nUser-Agent: git/2.39\r\n\r\n", "127.0.0.1", 80)]
    public void ConnectRequests_YieldTheCanonicalTarget(string head, string host, int port)
    {
        HeadParse parsed = Parse(head);
        parsed.IsConnect.ShouldBeTrue(parsed.RefusalReason);
        parsed.Host!.Name.ShouldBe(host);
        parsed.Port.ShouldBe(port);
    }

    [Theory]
    [InlineData("GET http://example.com/ HTTP/1.1\r\n\r\n", 405)]
    [InlineData("connect example.com:443 HTTP/1.1\r\n\r\n", 405)]
    [InlineData("CONNECT example.com:443 HTTP/1.0\r\n\r\n", 505)]
    [InlineData("CONNECT example.com HTTP/1.1\r\n\r\n", 400)]
    [InlineData("CONNECT user:pw@example.com:443 HTTP/1.1\r\n\r\n", 400)]
    [InlineData("CONNECT http://example.com:443/ HTTP/1.1\r\n\r\n", 400)]
    [InlineData("CONNECT  example.com:443 HTTP/1.1\r\n\r\n", 400)]
    [InlineData("CONNECT example.com:443 HTTP/1.1 extra\r\n\r\n", 400)]
    [InlineData("CONNECT ::1:443 HTTP/1.1\r\n\r\n", 400)]
    [InlineData("CONNECT exa\tmple.com:443 HTTP/1.1\r\n\r\n", 400)]
    [InlineData("CONNECT bücher.example:443 HTTP/1.1\r\n\r\n", 400)]
    [InlineData("CONNECT example.com:443 HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", 400)]
    [InlineData("CONNECT example.com:443 HTTP/1.1\r\nno colon\r\n\r\n", 400)]
    [InlineData("CONNECT example.com:443 FTP/1.1\r\n\r\n", 400)]
    public void OtherRequests_AreRefused(string head, int status)
    {
        HeadParse parsed = Parse(head);
        parsed.IsConnect.ShouldBeFalse();
        parsed.RefusalStatus.ShouldBe(status);
    }

    [Fact]
    public void RefusalReasons_NeverQuoteTheTarget()
    {
        HeadParse parsed = Parse("GET http://user:s3cret@example.com/?token=abc HTTP/1.1\r\n\r\n");
        parsed.RefusalReason!.ShouldNotContain("s3cret");
        parsed.RefusalReason!.ShouldNotContain("token");
    }

    [Theory]
    [InlineData("CONNECT a:1 HTTP/1.1\r\n\r\n", 0, 24)]
    [InlineData("CONNECT a:1 HTTP/1.1\r\n\r\nearly", 17, 24)]
    [InlineData("CONNECT a:1 HTTP/1.1\r\n\r", 0, -1)]
    public void TheEndOfTheHead_IsFound(string received, int searchFrom, int end) =>
        RequestHead.FindEnd(Encoding.ASCII.GetBytes(received), searchFrom).ShouldBe(end);
}
