using System.Buffers.Binary;

namespace AutoReview.Bundle.Layer;

/// <summary>
/// CRC-32 as gzip uses it (RFC 1952: reflected polynomial 0xEDB88320). The BCL has no public CRC-32
/// (System.IO.Hashing is a separate package), and .NET's GZipStream does not check the trailer on a truncated
/// stream, so the extractor computes it. Slicing-by-8 keeps it several times faster than byte-at-a-time tables.
/// </summary>
internal static class Crc32
{
    public const uint Initial = 0xFFFFFFFF;

    private static readonly uint[] Table = BuildTable();

    private static uint[] BuildTable()
    {
        var table = new uint[8 * 256];
        for (uint i = 0; i < 256; i++)
        {
            uint c = i;
            for (int k = 0; k < 8; k++)
                c = (c & 1) != 0 ? 0xEDB88320 ^ (c >> 1) : c >> 1;
            table[i] = c;
        }
        // table[s*256 + i] is the CRC contribution of byte i followed by s zero bytes.
        for (int s = 1; s < 8; s++)
            for (int i = 0; i < 256; i++)
                table[s * 256 + i] = (table[(s - 1) * 256 + i] >> 8) ^ table[table[(s - 1) * 256 + i] & 0xFF];
        return table;
    }

    public static uint Update(uint state, ReadOnlySpan<byte> bytes)
    {
        uint[] t = Table;
        while (bytes.Length >= 8)
        {
            uint lo = state ^ BinaryPrimitives.ReadUInt32LittleEndian(bytes);
            uint hi = BinaryPrimitives.ReadUInt32LittleEndian(bytes[4..]);
            state = t[7 * 256 + (lo & 0xFF)] ^ t[6 * 256 + ((lo >> 8) & 0xFF)] ^ t[5 * 256 + ((lo >> 16) & 0xFF)] ^ t[4 * 256 + (lo >> 24)]
                  ^ t[3 * 256 + (hi & 0xFF)] ^ t[2 * 256 + ((hi >> 8) & 0xFF)] ^ t[1 * 256 + ((hi >> 16) & 0xFF)] ^ t[hi >> 24];
            bytes = bytes[8..];
        }
        foreach (byte b in bytes)
            state = t[(state ^ b) & 0xFF] ^ (state >> 8);
        return state;
    }

    public static uint Finish(uint state) => ~state;
}
