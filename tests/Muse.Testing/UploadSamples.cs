using System.Buffers.Binary;
using System.Text;

namespace Muse.Testing;

/// <summary>
/// Hand-made image bytes for upload tests, written without an image library: files ImageSharp cannot write
/// (a CMYK JPEG), files no encoder would write (a PNG that declares a huge size), and deterministic mutations of
/// valid files for fuzzing the upload path.
/// </summary>
public static class UploadSamples
{
    private static readonly byte[] PngSignature = [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A];

    /// <summary>
    /// A complete baseline JPEG with four components and an Adobe APP14 marker (transform 0: plain CMYK), as
    /// Photoshop writes for print. Every 8×8 block is flat (DC difference 0, no AC): one-symbol Huffman tables
    /// give two bits per block, so the file is valid and tiny.
    /// </summary>
    /// <param name="width">Width in pixels, a multiple of 8.</param>
    /// <param name="height">Height in pixels, a multiple of 8.</param>
    public static byte[] CmykJpeg(int width, int height)
    {
        if (width % 8 != 0 || height % 8 != 0 || width <= 0 || height <= 0)
        {
            throw new ArgumentException("Width and height must be positive multiples of 8.");
        }

        using var s = new MemoryStream();
        s.Write([0xFF, 0xD8]);                                                                  // SOI
        Segment(s, 0xEE, [.. "Adobe"u8, 0x00, 0x64, 0x00, 0x00, 0x00, 0x00, 0x00]);             // APP14: version 100, transform 0
        Segment(s, 0xDB, [0x00, .. Enumerable.Repeat((byte)1, 64)]);                            // DQT 0: all ones
        byte[] frame = [8, (byte)(height >> 8), (byte)height, (byte)(width >> 8), (byte)width, 4];
        for (byte c = 1; c <= 4; c++)
        {
            frame = [.. frame, c, 0x11, 0x00];                                                  // 1×1 sampling, table 0
        }

        Segment(s, 0xC0, frame);                                                                // SOF0
        // One code of length 1 ("0") per table: DC category 0, AC end-of-block (0x00).
        Segment(s, 0xC4, [0x00, 1, .. new byte[15], 0x00]);
        Segment(s, 0xC4, [0x10, 1, .. new byte[15], 0x00]);
        Segment(s, 0xDA, [4, 1, 0x00, 2, 0x00, 3, 0x00, 4, 0x00, 0, 63, 0]);                    // SOS: all four components

        // Interleaved MCUs of one block per component: "0" (DC) + "0" (EOB) each, 8 bits per MCU.
        var mcus = width / 8 * (height / 8);
        s.Write(new byte[mcus]);
        s.Write([0xFF, 0xD9]);                                                                  // EOI
        return s.ToArray();
    }

    /// <summary>
    /// A well-formed PNG whose IHDR declares <paramref name="width"/>×<paramref name="height"/> (CRCs correct) but
    /// that carries almost no pixel data: a decoder trusting the header would allocate gigabytes.
    /// </summary>
    public static byte[] PngDeclaring(int width, int height)
    {
        using var stream = new MemoryStream();
        stream.Write(PngSignature);
        var header = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(header, width);
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4), height);
        header[8] = 8;  // bit depth
        header[9] = 2;  // colour type: RGB
        PngChunk(stream, "IHDR", header);
        PngChunk(stream, "IDAT", [0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]);
        PngChunk(stream, "IEND", []);
        return stream.ToArray();
    }

    /// <summary>
    /// <paramref name="count"/> deterministic mutations of <paramref name="original"/>: bit flips, overwritten
    /// runs, truncations, insertions, deletions, and (for PNG) IHDR sizes rewritten with a correct CRC, so
    /// mutations get past the CRC check into the decoder.
    /// </summary>
    public static IEnumerable<(string Name, byte[] Bytes)> Mutations(byte[] original, int count, uint salt)
    {
        ArgumentNullException.ThrowIfNull(original);
        for (var i = 0; i < count; i++)
        {
            var h = Hash((uint)i ^ (salt * 0x9E3779B9u));
            var bytes = original.ToArray();
            var at = (int)(Hash(h + 1) % (uint)bytes.Length);
            switch (i % 6)
            {
                case 0:
                    for (var k = 0; k < 1 + (h % 8); k++)
                    {
                        var p = (int)(Hash(h + 10 + (uint)k) % (uint)bytes.Length);
                        bytes[p] ^= (byte)(1 << (int)(Hash(h + 20 + (uint)k) % 8));
                    }

                    yield return ($"flip#{i}", bytes);
                    break;
                case 1:
                    for (var k = at; k < Math.Min(bytes.Length, at + 1 + (int)(h % 32)); k++)
                    {
                        bytes[k] = (byte)Hash(h + (uint)k);
                    }

                    yield return ($"overwrite#{i}@{at}", bytes);
                    break;
                case 2:
                    yield return ($"truncate#{i}@{at}", bytes[..at]);
                    break;
                case 3:
                    yield return ($"insert#{i}@{at}", [.. bytes[..at], .. Enumerable.Range(0, 1 + (int)(h % 16)).Select(k => (byte)Hash(h + (uint)k)), .. bytes[at..]]);
                    break;
                case 4:
                    var end = Math.Min(bytes.Length, at + 1 + (int)(h % 64));
                    yield return ($"delete#{i}@{at}", [.. bytes[..at], .. bytes[end..]]);
                    break;
                default:
                    yield return ($"ihdr#{i}", bytes.AsSpan().StartsWith(PngSignature) ? WithIhdrSize(bytes, h) : bytes[..at]);
                    break;
            }
        }
    }

    // Rewrites IHDR's width and height (small, huge, zero or negative) and fixes its CRC.
    private static byte[] WithIhdrSize(byte[] png, uint h)
    {
        uint[] sizes = [0, 1, 7, 64, 129, 4096, 65_535, 1u << 24, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF];
        var bytes = png.ToArray();
        BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(16), sizes[h % (uint)sizes.Length]);
        BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(20), sizes[Hash(h) % (uint)sizes.Length]);
        BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(29), Crc32(bytes.AsSpan(12, 17)));
        return bytes;
    }

    private static void Segment(Stream stream, byte marker, byte[] payload)
    {
        stream.Write([0xFF, marker, (byte)((payload.Length + 2) >> 8), (byte)(payload.Length + 2)]);
        stream.Write(payload);
    }

    private static void PngChunk(Stream stream, string type, byte[] data)
    {
        var typeBytes = Encoding.ASCII.GetBytes(type);
        Span<byte> word = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(word, data.Length);
        stream.Write(word);
        stream.Write(typeBytes);
        stream.Write(data);
        BinaryPrimitives.WriteUInt32BigEndian(word, Crc32([.. typeBytes, .. data]));
        stream.Write(word);
    }

    private static uint Crc32(ReadOnlySpan<byte> bytes)
    {
        var crc = 0xFFFFFFFFu;
        foreach (var b in bytes)
        {
            crc ^= b;
            for (var k = 0; k < 8; k++)
            {
                crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xEDB88320u : crc >> 1;
            }
        }

        return ~crc;
    }

    private static uint Hash(uint x)
    {
        x ^= x >> 16;
        x *= 0x7FEB352Du;
        x ^= x >> 15;
        x *= 0x846CA68Bu;
        x ^= x >> 16;
        return x;
    }
}
