using System.Net;
using Shouldly;
using Xunit;

namespace AutoReview.Egress.Tests;

/// <summary>The address classes the DNS-rebinding guard refuses (no connection is made in these tests).</summary>
public sealed class AddressScopeTests
{
    [Theory]
    [InlineData("127.0.0.1", "loopback")]
    [InlineData("127.255.0.9", "loopback")]
    [InlineData("::1", "loopback")]
    [InlineData("10.1.2.3", "private")]
    [InlineData("172.16.0.1", "private")]
    [InlineData("172.31.255.255", "private")]
    [InlineData("192.168.1.1", "private")]
    [InlineData("fd00::1", "private")]
    [InlineData("169.254.169.254", "link-local")]
    [InlineData("fe80::1", "link-local")]
    [InlineData("100.64.0.1", "carrier-grade NAT")]
    [InlineData("224.0.0.1", "multicast")]
    [InlineData("ff02::1", "multicast")]
    [InlineData("0.0.0.0", "unspecified")]
    [InlineData("::", "unspecified")]
    [InlineData("255.255.255.255", "broadcast")]
    [InlineData("240.0.0.1", "reserved")]
    [InlineData("::ffff:127.0.0.1", "loopback")]
    [InlineData("::ffff:10.0.0.1", "private")]
    [InlineData("64:ff9b::a9fe:a9fe", "link-local")]
    [InlineData("2002:7f00:1::1", "loopback")]
    [InlineData("::127.0.0.1", "IPv4-compatible")]
    public void NonPublicAddresses_AreNamed(string address, string kind) =>
        AddressScope.NonPublicKind(IPAddress.Parse(address)).ShouldNotBeNull().ShouldContain(kind);

    [Theory]
    [InlineData("140.82.112.3")]
    [InlineData("172.32.0.1")]
    [InlineData("172.15.255.255")]
    [InlineData("100.128.0.1")]
    [InlineData("2606:4700::1111")]
    [InlineData("64:ff9b::8c52:7003")]
    public void PublicAddresses_PassTheGuard(string address) =>
        AddressScope.NonPublicKind(IPAddress.Parse(address)).ShouldBeNull();
}
