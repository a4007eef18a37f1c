using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace AutoReview.Bundle;

/// <summary>
/// The payload appended to the auto-review executable (ADR 0007):
/// <c>[ELF][layer .tar.gz][manifest JSON][trailer]</c>, where the 32-byte trailer is the layer length, the
/// manifest length (both u64 little-endian) and the magic <c>AR-BUNDLE-v0001</c> padded to 16 bytes.
/// The ELF loader ignores bytes past the last segment, so the file still runs.
/// </summary>
public sealed class EmbeddedPayload
{
    private const int TrailerSize = 32;
    private static readonly byte[] Magic = Encoding.ASCII.GetBytes("AR-BUNDLE-v0001\0");

    private EmbeddedPayload(string executable, long layerOffset, long layerLength, BundleManifest manifest)
    {
        Executable = executable;
        LayerOffset = layerOffset;
        LayerLength = layerLength;
        Manifest = manifest;
    }

    public string Executable { get; }
    public long LayerOffset { get; }
    public long LayerLength { get; }
    public BundleManifest Manifest { get; }

    /// <summary>The layer blob, read straight out of the executable.</summary>
    public Stream OpenLayer()
    {
        var file = new FileStream(Executable, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1 << 16);
        return new SegmentStream(file, LayerOffset, LayerLength);
    }

    /// <summary>Reads the payload of an executable; null when it has none (a build before embedding).</summary>
    public static EmbeddedPayload? Read(string executable)
    {
        using var file = new FileStream(executable, FileMode.Open, FileAccess.Read, FileShare.Read);
        if (file.Length < TrailerSize)
            return null;
        Span<byte> trailer = stackalloc byte[TrailerSize];
        file.Seek(-TrailerSize, SeekOrigin.End);
        file.ReadExactly(trailer);
        if (!trailer[16..].SequenceEqual(Magic))
            return null;
        long layerLength = BinaryPrimitives.ReadInt64LittleEndian(trailer);
        long manifestLength = BinaryPrimitives.ReadInt64LittleEndian(trailer[8..]);
        long manifestOffset = file.Length - TrailerSize - manifestLength;
        long layerOffset = manifestOffset - layerLength;
        if (layerLength <= 0 || manifestLength <= 0 || manifestLength > 64 << 20 || layerOffset < 0)
            throw new BundleException($"{executable}: the embedded bundle's trailer is corrupt (layer {layerLength} bytes, manifest {manifestLength} bytes, file {file.Length} bytes)");
        var manifestBytes = new byte[manifestLength];
        file.Seek(manifestOffset, SeekOrigin.Begin);
        file.ReadExactly(manifestBytes);
        BundleManifest manifest = BundleManifest.FromJson(manifestBytes, $"{executable} (embedded manifest)");
        if (manifest.CompressedSize != layerLength)
            throw new BundleException($"{executable}: the embedded layer is {layerLength} bytes but the manifest says {manifest.CompressedSize}");
        return new EmbeddedPayload(executable, layerOffset, layerLength, manifest);
    }

    /// <summary>
    /// Writes <paramref name="output"/> = the executable (without any previous payload) + layer + manifest +
    /// trailer, through a temporary file and a rename, so a failure never leaves a half-written executable.
    /// </summary>
    public static void Embed(string executable, string layerPath, BundleManifest manifest, string output)
    {
        long executableLength = Read(executable) is { } previous ? previous.LayerOffset : new FileInfo(executable).Length;
        byte[] manifestBytes = manifest.ToJson();
        string temporary = $"{output}.tmp-{Environment.ProcessId}";
        try
        {
            using (var target = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write))
            {
                using (var source = new FileStream(executable, FileMode.Open, FileAccess.Read))
                    CopyExactly(source, target, executableLength, executable);
                using (var layer = new FileStream(layerPath, FileMode.Open, FileAccess.Read))
                {
                    if (layer.Length != manifest.CompressedSize)
                        throw new BundleException($"{layerPath}: {layer.Length} bytes, but the manifest says {manifest.CompressedSize}");
                    using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
                    var buffer = new byte[1 << 16];
                    for (int n; (n = layer.Read(buffer)) > 0;)
                    {
                        hash.AppendData(buffer, 0, n);
                        target.Write(buffer, 0, n);
                    }
                    string digest = "sha256:" + Convert.ToHexStringLower(hash.GetHashAndReset());
                    if (digest != manifest.LayerDigest)
                        throw new BundleException($"{layerPath}: digest {digest} does not match the manifest's {manifest.LayerDigest}");
                }
                target.Write(manifestBytes);
                Span<byte> trailer = stackalloc byte[TrailerSize];
                BinaryPrimitives.WriteInt64LittleEndian(trailer, manifest.CompressedSize);
                BinaryPrimitives.WriteInt64LittleEndian(trailer[8..], manifestBytes.Length);
                Magic.CopyTo(trailer[16..]);
                target.Write(trailer);
                target.Flush(flushToDisk: true);
            }
            File.SetUnixFileMode(temporary, File.GetUnixFileMode(executable));
            File.Move(temporary, output, overwrite: true);
        }
        finally
        {
            File.Delete(temporary);
        }
    }

    private static void CopyExactly(Stream source, Stream target, long length, string what)
    {
        var buffer = new byte[1 << 16];
        for (long left = length; left > 0;)
        {
            int n = source.Read(buffer, 0, (int)Math.Min(buffer.Length, left));
            if (n == 0) throw new BundleException($"{what}: shorter than expected");
            target.Write(buffer, 0, n);
            left -= n;
        }
    }

    /// <summary>A read-only window onto part of a file.</summary>
    private sealed class SegmentStream(FileStream file, long offset, long length) : Stream
    {
        private long _position;

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => length;
        public override long Position { get => _position; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int start, int count) => Read(buffer.AsSpan(start, count));

        public override int Read(Span<byte> buffer)
        {
            int wanted = (int)Math.Min(buffer.Length, length - _position);
            if (wanted <= 0) return 0;
            file.Position = offset + _position;
            int n = file.Read(buffer[..wanted]);
            _position += n;
            return n;
        }

        public override void Flush() { }
        public override long Seek(long where, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int start, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing) file.Dispose();
            base.Dispose(disposing);
        }
    }
}
