using System.Net;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace AutoReview.TestInfrastructure;

/// <summary>
/// A throwaway certificate authority and one server certificate it signed, for TLS on loopback.
/// Nothing is installed in any system or user store: a client trusts the CA only when told to
/// (git through <c>GIT_SSL_CAINFO=</c><see cref="WriteCaPem"/>, .NET through <see cref="CreateTrustingHandler"/>).
/// </summary>
/// <remarks>
/// Both certificates are ECDSA P-256 and valid from one hour ago to one day ahead.
/// The CA: basicConstraints CA:true (critical), keyUsage keyCertSign+cRLSign (critical).
/// The server certificate: SAN IP 127.0.0.1 and DNS localhost, EKU serverAuth, keyUsage digitalSignature,
/// basicConstraints CA:false, and an authority key identifier naming the CA.
/// </remarks>
public sealed class TestCertificateAuthority : IDisposable
{
    private static readonly Oid ServerAuthentication = new("1.3.6.1.5.5.7.3.1", "Server Authentication");

    private TestCertificateAuthority(X509Certificate2 caCertificate, X509Certificate2 serverCertificate)
    {
        CaCertificate = caCertificate;
        ServerCertificate = serverCertificate;
    }

    /// <summary>The CA certificate, public part only (its private key was discarded after signing).</summary>
    public X509Certificate2 CaCertificate { get; }

    /// <summary>The server certificate with its private key, loaded from PKCS#12 so that SslStream (Kestrel) can use the key on Linux.</summary>
    public X509Certificate2 ServerCertificate { get; }

    /// <summary>The CA certificate in PEM ("-----BEGIN CERTIFICATE-----" …).</summary>
    public string CaPem => CaCertificate.ExportCertificatePem() + "\n";

    /// <summary>Makes a fresh CA and a server certificate for 127.0.0.1 / localhost.</summary>
    public static TestCertificateAuthority Create()
    {
        // Whole seconds: X.509 times have second precision, and the issued certificate must lie inside the CA's validity.
        DateTimeOffset now = DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.ToUnixTimeSeconds());
        DateTimeOffset notBefore = now.AddHours(-1);
        DateTimeOffset notAfter = now.AddDays(1);

        using ECDsa caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var caRequest = new CertificateRequest("CN=auto-review test CA, O=auto-review tests", caKey, HashAlgorithmName.SHA256);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: true, hasPathLengthConstraint: true, pathLengthConstraint: 0, critical: true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, critical: true));
        caRequest.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(caRequest.PublicKey, critical: false));
        using X509Certificate2 caWithKey = caRequest.CreateSelfSigned(notBefore, notAfter);

        using ECDsa serverKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var serverRequest = new CertificateRequest("CN=127.0.0.1", serverKey, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(IPAddress.Loopback);
        san.AddDnsName("localhost");
        serverRequest.CertificateExtensions.Add(san.Build(critical: false));
        serverRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: false, hasPathLengthConstraint: false, pathLengthConstraint: 0, critical: true));
        serverRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, critical: true));
        serverRequest.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([ServerAuthentication], critical: false));
        serverRequest.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(serverRequest.PublicKey, critical: false));
        serverRequest.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(caWithKey, includeKeyIdentifier: true, includeIssuerAndSerial: false));

        using X509Certificate2 serverPublic = serverRequest.Create(caWithKey, notBefore, notAfter, RandomSerialNumber());
        using X509Certificate2 serverWithKey = serverPublic.CopyWithPrivateKey(serverKey);
        // An ephemeral key attached in memory is not usable by SslStream on Linux; a PKCS#12 round trip gives a usable one.
        X509Certificate2 server = X509CertificateLoader.LoadPkcs12(serverWithKey.Export(X509ContentType.Pfx), password: null);
        X509Certificate2 caPublic = X509CertificateLoader.LoadCertificate(caWithKey.RawData);
        return new TestCertificateAuthority(caPublic, server);
    }

    /// <summary>Writes the CA certificate in PEM to <paramref name="path"/> (for GIT_SSL_CAINFO, curl --cacert, …) and returns the path.</summary>
    public string WriteCaPem(string path)
    {
        File.WriteAllText(path, CaPem);
        return path;
    }

    /// <summary>
    /// An HTTP handler that trusts this CA and nothing else (no system roots), with host-name checking left on,
    /// and no proxy: for .NET clients of the test servers.
    /// </summary>
    public SocketsHttpHandler CreateTrustingHandler()
    {
        X509Certificate2 root = CaCertificate;
        return new SocketsHttpHandler
        {
            UseProxy = false,
            SslOptions = new SslClientAuthenticationOptions
            {
                RemoteCertificateValidationCallback = (_, certificate, _, errors) =>
                {
                    if (certificate is null)
                        return false;
                    // Only a chain problem is acceptable here (our root is not in the system store); any name mismatch is fatal.
                    if ((errors & ~SslPolicyErrors.RemoteCertificateChainErrors) != SslPolicyErrors.None)
                        return false;
                    using var chain = new X509Chain();
                    chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
                    chain.ChainPolicy.CustomTrustStore.Add(root);
                    chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
                    using var leaf = X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
                    return chain.Build(leaf);
                },
            },
        };
    }

    public void Dispose()
    {
        ServerCertificate.Dispose();
        CaCertificate.Dispose();
    }

    private static byte[] RandomSerialNumber()
    {
        byte[] serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7f; // a positive INTEGER
        serial[0] |= 0x01; // and no leading zero byte to strip
        return serial;
    }
}
