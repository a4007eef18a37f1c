using System.Security.Cryptography.X509Certificates;
using AutoReview.Bundle;

namespace AutoReview.Cli;

/// <summary>
/// Extra trust anchors for the sandbox. The bundle points git (GIT_SSL_CAINFO), OpenSSL and .NET (SSL_CERT_FILE)
/// at one PEM file; this writes that file's contents plus the given certificates to a private temporary file,
/// which the launcher binds read-only over it.
/// </summary>
internal static class TrustStore
{
    public const string BundlePath = "/etc/ssl/certs/ca-certificates.crt";

    /// <param name="basePem">The trust anchors to start from (the bundle's, or the host's for --bare); it may be missing.</param>
    public static TrustFile Combine(string basePem, IReadOnlyList<string> caFiles)
    {
        var pem = new System.Text.StringBuilder(File.Exists(basePem) ? File.ReadAllText(basePem) : "");
        foreach (string caFile in caFiles)
        {
            string text;
            try
            {
                text = File.ReadAllText(caFile);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new BundleException($"--ca-file {caFile}: cannot read it: {e.Message}");
            }
            var certificates = new X509Certificate2Collection();
            try
            {
                certificates.ImportFromPem(text);
            }
            catch (System.Security.Cryptography.CryptographicException e)
            {
                throw new BundleException($"--ca-file {caFile}: not a PEM certificate file: {e.Message}");
            }
            if (certificates.Count == 0)
                throw new BundleException($"--ca-file {caFile}: contains no PEM certificate (expected -----BEGIN CERTIFICATE-----)");
            foreach (X509Certificate2 certificate in certificates)
                pem.Append('\n').Append(certificate.ExportCertificatePem()).Append('\n');
        }
        string path = Path.Combine(Path.GetTempPath(), $"auto-review-ca-{Environment.ProcessId}-{Guid.NewGuid():N}.pem");
        using (var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write))
        {
            file.Write(System.Text.Encoding.ASCII.GetBytes(pem.ToString()));
        }
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        return new TrustFile(path);
    }
}

/// <summary>The combined PEM file, deleted on dispose.</summary>
internal sealed class TrustFile(string path) : IDisposable
{
    public string Path { get; } = path;

    public void Dispose() => File.Delete(Path);
}
