using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Jpeg;
using SixLabors.ImageSharp.Formats.Png;
using SixLabors.ImageSharp.PixelFormats;

namespace Muse.Testing;

/// <summary>
/// The uploads the service and end-to-end tests share: a deterministic scene (white background, a red square left,
/// a blue bar right) in the encodings a client might send.
/// </summary>
public static class TestScenes
{
    /// <summary>The scene as an image; the caller owns and disposes it.</summary>
    public static Image<Rgb24> Scene(int width, int height)
    {
        var image = new Image<Rgb24>(width, height, new Rgb24(255, 255, 255));
        for (var y = height / 4; y < 3 * height / 4; y++)
        {
            for (var x = width / 8; x < width / 2; x++)
            {
                image[x, y] = new Rgb24(220, 40, 40);
            }

            for (var x = 5 * width / 8; x < 7 * width / 8; x++)
            {
                image[x, y] = new Rgb24(40, 80, 220);
            }
        }

        return image;
    }

    /// <summary>The scene as PNG of a given colour type and bit depth (default 8-bit RGB).</summary>
    public static byte[] ScenePng(int width, int height, PngColorType colourType = PngColorType.Rgb, PngBitDepth bitDepth = PngBitDepth.Bit8)
    {
        using var image = Scene(width, height);
        using var stream = new MemoryStream();
        image.SaveAsPng(stream, new PngEncoder { ColorType = colourType, BitDepth = bitDepth });
        return stream.ToArray();
    }

    /// <summary>The scene as JPEG (quality 90).</summary>
    public static byte[] SceneJpeg(int width, int height)
    {
        using var image = Scene(width, height);
        using var stream = new MemoryStream();
        image.SaveAsJpeg(stream, new JpegEncoder { Quality = 90 });
        return stream.ToArray();
    }
}
