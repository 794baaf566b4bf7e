using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Jpeg;
using SixLabors.ImageSharp.Formats.Png;
using SixLabors.ImageSharp.PixelFormats;

namespace Muse.Services.Tests;

/// <summary>Image uploads for the tokenizer tests, good and bad, all deterministic.</summary>
internal static class TestImages
{
    /// <summary>The shared test scene (<see cref="Muse.Testing.TestScenes"/>) as 8-bit RGB PNG.</summary>
    public static byte[] ScenePng(int width, int height) => Muse.Testing.TestScenes.ScenePng(width, height);

    /// <summary>The scene as PNG of a given colour type and bit depth.</summary>
    public static byte[] ScenePng(int width, int height, PngColorType colourType, PngBitDepth bitDepth) =>
        Muse.Testing.TestScenes.ScenePng(width, height, colourType, bitDepth);

    /// <summary>The same scene as JPEG (quality 90).</summary>
    public static byte[] SceneJpeg(int width, int height) => Muse.Testing.TestScenes.SceneJpeg(width, height);

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
