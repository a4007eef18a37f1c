using System.Text;
using Tmds.Linux;
using static Tmds.Linux.LibC;

namespace AutoReview.Cli.Interop;

/// <summary>The file-type questions the command line asks that .NET's file APIs cannot answer.</summary>
internal static unsafe class FileInterop
{
    /// <summary>
    /// True if <paramref name="path"/> (links followed) is a character or block device, a FIFO or a socket:
    /// something written in place (<c>/dev/null</c>, <c>/dev/stdout</c>, a named pipe), never replaced by a rename.
    /// A path that cannot be stat'ed is not special; writing it reports the error.
    /// </summary>
    public static bool IsSpecialFile(string path)
    {
        byte[] z = new byte[Encoding.UTF8.GetByteCount(path) + 1];
        Encoding.UTF8.GetBytes(path, z);
        stat st;
        fixed (byte* p = z)
        {
            if (stat(p, &st) != 0)
                return false;
        }
        return ((uint)st.st_mode & 0xF000) is 0x2000 or 0x6000 or 0x1000 or 0xC000;
    }
}
