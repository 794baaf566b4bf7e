using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Png;
using SixLabors.ImageSharp.PixelFormats;

namespace Muse.ImageTokenizer;

/// <summary>8-bit RGB ⇄ the VQGAN's NCHW floats in [-1, 1] (<c>p/127.5 − 1</c>), and PNG encoding.</summary>
public static class PixelConvert
{
    private static readonly PngEncoder Encoder = new()
    {
        ColorType = PngColorType.Rgb,
        BitDepth = PngBitDepth.Bit8,
    };

    /// <summary>The pixels of <paramref name="image"/> as floats [1, 3, height, width] in [-1, 1].</summary>
    public static float[] ToNchw(Image<Rgb24> image)
    {
        ArgumentNullException.ThrowIfNull(image);
        var plane = image.Width * image.Height;
        var pixels = new float[3 * plane]; // [1, 3, H, W]
        image.ProcessPixelRows(rows =>
        {
            for (var y = 0; y < rows.Height; y++)
            {
                var row = rows.GetRowSpan(y);
                var offset = y * rows.Width;
                for (var x = 0; x < row.Length; x++)
                {
                    pixels[offset + x] = (row[x].R / 127.5f) - 1f;
                    pixels[plane + offset + x] = (row[x].G / 127.5f) - 1f;
                    pixels[(2 * plane) + offset + x] = (row[x].B / 127.5f) - 1f;
                }
            }
        });
        return pixels;
    }

    /// <summary>
    /// One batch row of decoder output [batch, 3, height, width] as 8-bit RGB [height, width, 3]; values are clamped
    /// to [-1, 1] first (NaN counts as −1).
    /// </summary>
    public static byte[] ToRgb24(ReadOnlySpan<float> batchPixels, int row, int height, int width)
    {
        var plane = height * width;
        var source = batchPixels.Slice(row * 3 * plane, 3 * plane); // [3, H, W]
        var rgb = new byte[3 * plane];                               // [H, W, 3]
        for (var i = 0; i < plane; i++)
        {
            rgb[3 * i] = ToByte(source[i]);
            rgb[(3 * i) + 1] = ToByte(source[plane + i]);
            rgb[(3 * i) + 2] = ToByte(source[(2 * plane) + i]);
        }

        return rgb;
    }

    /// <summary>8-bit RGB [height, width, 3] as a PNG.</summary>
    public static byte[] ToPng(ReadOnlySpan<byte> rgb, int height, int width)
    {
        using var image = Image.LoadPixelData<Rgb24>(rgb, width, height);
        using var png = new MemoryStream();
        image.SaveAsPng(png, Encoder);
        return png.ToArray();
    }

    private static byte ToByte(float value)
    {
        var clamped = float.IsNaN(value) ? -1f : Math.Clamp(value, -1f, 1f);
        return (byte)MathF.Round((clamped + 1f) * 127.5f);
    }
}
