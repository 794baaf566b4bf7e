using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Jpeg;
using SixLabors.ImageSharp.Formats.Png;
using SixLabors.ImageSharp.PixelFormats;

namespace Muse.Services.Tests;

/// <summary>Image uploads for the tokenizer tests, good and bad, all deterministic.</summary>
internal static class TestImages
{
    /// <summary>A synthetic scene: white background, a red square left, a blue bar right, as PNG.</summary>
    public static byte[] ScenePng(int width, int height) => Png(Scene(width, height));

    /// <summary>The scene as PNG of a given colour type and bit depth.</summary>
    public static byte[] ScenePng(int width, int height, PngColorType colourType, PngBitDepth bitDepth)
    {
        using var image = Scene(width, height);
        using var stream = new MemoryStream();
        image.SaveAsPng(stream, new PngEncoder { ColorType = colourType, BitDepth = bitDepth });
        return stream.ToArray();
    }

    /// <summary>The same scene as JPEG (quality 90).</summary>
    public static byte[] SceneJpeg(int width, int height)
    {
        using var image = Scene(width, height);
        using var stream = new MemoryStream();
        image.SaveAsJpeg(stream, new JpegEncoder { Quality = 90 });
        return stream.ToArray();
    }

    /// <summary>A solid-colour RGBA PNG.</summary>
    public static byte[] SolidPng(int width, int height, Rgba32 colour)
    {
        using var image = new Image<Rgba32>(width, height, colour);
        using var stream = new MemoryStream();
        image.SaveAsPng(stream);
        return stream.ToArray();
    }

    /// <summary>A PNG of hashed noise, so its IDAT does not compress away (a cut file loses real data).</summary>
    public static byte[] NoisePng(int width, int height)
    {
        using var image = new Image<Rgb24>(width, height);
        for (var y = 0; y < height; y++)
        {
            for (var x = 0; x < width; x++)
            {
                var h = Hash((uint)((y * width) + x));
                image[x, y] = new Rgb24((byte)h, (byte)(h >> 8), (byte)(h >> 16));
            }
        }

        return Png(image);
    }

    /// <summary>A 1×1 GIF.</summary>
    public static byte[] Gif()
    {
        using var image = new Image<Rgba32>(8, 8, new Rgba32(255, 0, 0));
        using var stream = new MemoryStream();
        image.SaveAsGif(stream);
        return stream.ToArray();
    }

    /// <summary>A PNG whose header declares a huge size with almost no pixel data (the shared sample).</summary>
    public static byte[] PngDeclaring(int width, int height) => Muse.Testing.UploadSamples.PngDeclaring(width, height);

    /// <summary>Hashed bytes that start like nothing in particular.</summary>
    public static byte[] RandomBytes(int count)
    {
        var bytes = new byte[count];
        for (var i = 0; i < count; i++)
        {
            bytes[i] = (byte)Hash((uint)i + 17);
        }

        bytes[0] = 0x42; // never a PNG or JPEG signature
        return bytes;
    }

    /// <summary>Decodes a PNG and returns its size, failing the test if it is not one.</summary>
    public static (int Width, int Height) DecodePng(byte[] png)
    {
        using var image = Image.Load<Rgb24>(png, out var format);
        Assert.Equal("PNG", format.Name);
        return (image.Width, image.Height);
    }

    private static Image<Rgb24> Scene(int width, int height)
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

    private static byte[] Png<TPixel>(Image<TPixel> image)
        where TPixel : unmanaged, IPixel<TPixel>
    {
        using var stream = new MemoryStream();
        image.SaveAsPng(stream);
        return stream.ToArray();
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
