using System.Security.Cryptography;

namespace AutoReview.Bundle.Layer;

/// <summary>
/// A pass-through stream (read-only or write-only) that computes the SHA-256 and length of the bytes that cross it,
/// so the writer and the extractor get layer digests in the same pass that moves the data (no temp file, no
/// second read). Optionally it also computes the gzip CRC-32 and keeps the last 8 bytes, which the extractor
/// needs to check the gzip trailer itself.
/// </summary>
internal sealed class DigestingStream : Stream
{
    /// <summary>A gzip member ends with CRC-32 and ISIZE, 4 bytes each (RFC 1952).</summary>
    public const int GzipTrailerLength = 8;

    private readonly Stream _inner;
    private readonly bool _writing;
    private readonly IncrementalHash _sha256 = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private readonly bool _computeCrc32;
    private uint _crc32State = Crc32.Initial;
    private readonly byte[] _tail = new byte[GzipTrailerLength];
    private string? _digest;

    public DigestingStream(Stream inner, bool writing, bool computeCrc32 = false)
    {
        if (writing ? !inner.CanWrite : !inner.CanRead)
            throw new ArgumentException($"inner stream must be {(writing ? "writable" : "readable")}", nameof(inner));
        _inner = inner;
        _writing = writing;
        _computeCrc32 = computeCrc32;
    }

    /// <summary>Bytes that have crossed the stream.</summary>
    public long ByteCount { get; private set; }

    /// <summary>CRC-32 (gzip polynomial) of the bytes so far; only when constructed with computeCrc32.</summary>
    public uint Crc32Value => _computeCrc32 ? Crc32.Finish(_crc32State) : throw new InvalidOperationException("CRC-32 was not requested");

    /// <summary>The last <see cref="GzipTrailerLength"/> bytes seen (fewer if fewer crossed, left-padded with zeros).</summary>
    public ReadOnlySpan<byte> Tail => _tail;

    /// <summary>"sha256:" + lowercase hex of every byte that crossed. Ends hashing: call once all bytes are through.</summary>
    public string Digest => _digest ??= "sha256:" + Convert.ToHexStringLower(_sha256.GetHashAndReset());

    private void Observe(ReadOnlySpan<byte> bytes)
    {
        if (_digest is not null)
            throw new InvalidOperationException("bytes crossed the stream after its digest was taken");
        _sha256.AppendData(bytes);
        if (_computeCrc32)
            _crc32State = Crc32.Update(_crc32State, bytes);
        if (bytes.Length >= _tail.Length)
        {
            bytes[^_tail.Length..].CopyTo(_tail);
        }
        else
        {
            _tail.AsSpan(bytes.Length).CopyTo(_tail);
            bytes.CopyTo(_tail.AsSpan(_tail.Length - bytes.Length));
        }
        ByteCount += bytes.Length;
    }

    public override int Read(Span<byte> buffer)
    {
        if (_writing) throw new NotSupportedException();
        int n = _inner.Read(buffer);
        Observe(buffer[..n]);
        return n;
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int ReadByte()
    {
        Span<byte> one = stackalloc byte[1];
        return Read(one) == 0 ? -1 : one[0];
    }

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        if (!_writing) throw new NotSupportedException();
        _inner.Write(buffer);
        Observe(buffer);
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void WriteByte(byte value) => Write([value]);

    public override void Flush()
    {
        if (_writing) _inner.Flush();
    }

    public override bool CanRead => !_writing;
    public override bool CanWrite => _writing;
    public override bool CanSeek => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => ByteCount; set => throw new NotSupportedException(); }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        // The inner stream belongs to the caller; only the hash is ours.
        if (disposing) _sha256.Dispose();
        base.Dispose(disposing);
    }
}
