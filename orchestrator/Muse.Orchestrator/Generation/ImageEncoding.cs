using Muse.Imaging;
using Muse.Protos.V1;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats;
using SixLabors.ImageSharp.Formats.Jpeg;
using SixLabors.ImageSharp.Formats.Png;
using SixLabors.ImageSharp.Formats.Webp;
using SixLabors.ImageSharp.Metadata.Profiles.Exif;
using SixLabors.ImageSharp.PixelFormats;

namespace Muse.Orchestrator.Generation;

/// <summary>
/// The final encoding of a generated image: the image tokenizer's pixels (raw RGB, or a PNG) encoded in the requested
/// format with the generation parameters inside. Deterministic: the same pixels and parameters always give the same
/// bytes, whichever way the pixels came.
/// </summary>
public static class ImageEncoding
{
    /// <summary>Re-encodes <paramref name="png"/> as <paramref name="format"/> carrying <paramref name="parameters"/>.</summary>
    /// <param name="png">8-bit RGB PNG from the image tokenizer.</param>
    /// <param name="parameters">Written as JSON into a PNG tEXt chunk, or JPEG/WebP EXIF ImageDescription.</param>
    /// <param name="format">Output encoding.</param>
    /// <param name="quality">JPEG/WebP quality, 1 to 100; ignored for PNG.</param>
    public static GeneratedImage Encode(ReadOnlySpan<byte> png, GenerationParameters parameters, ImageFormat format, int quality)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        using var image = Image.Load<Rgb24>(png);
        // Nothing of the source file's metadata is kept: only what is written here, so the bytes depend on nothing else.
        using var clean = new Image<Rgb24>(image.Width, image.Height);
        image.ProcessPixelRows(clean, static (source, target) =>
        {
            for (var y = 0; y < source.Height; y++)
            {
                source.GetRowSpan(y).CopyTo(target.GetRowSpan(y));
            }
        });
        return Encode(clean, parameters, format, quality);
    }

    /// <summary>Encodes raw pixels as <paramref name="format"/> carrying <paramref name="parameters"/>.</summary>
    /// <param name="rgb">8-bit RGB, <paramref name="height"/> × <paramref name="width"/> × 3 bytes, rows top to bottom
    /// (the image tokenizer's <c>PIXEL_ENCODING_RGB24</c>).</param>
    /// <param name="width">Pixels per row.</param>
    /// <param name="height">Rows.</param>
    /// <param name="parameters">Written as JSON into a PNG tEXt chunk, or JPEG/WebP EXIF ImageDescription.</param>
    /// <param name="format">Output encoding.</param>
    /// <param name="quality">JPEG/WebP quality, 1 to 100; ignored for PNG.</param>
    public static GeneratedImage EncodeRgb24(
        ReadOnlySpan<byte> rgb, int width, int height, GenerationParameters parameters, ImageFormat format, int quality)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        if (width <= 0 || height <= 0 || rgb.Length != 3 * width * height)
        {
            throw new ArgumentException($"{rgb.Length} bytes are not {width}×{height} RGB pixels.", nameof(rgb));
        }

        // A fresh image carries no metadata: the same pixels give the same bytes as through the PNG path above.
        using var clean = Image.LoadPixelData<Rgb24>(rgb, width, height);
        return Encode(clean, parameters, format, quality);
    }

    private static GeneratedImage Encode(Image<Rgb24> clean, GenerationParameters parameters, ImageFormat format, int quality)
    {
        var json = parameters.ToJson();
        IImageEncoder encoder;
        if (format == ImageFormat.Png)
        {
            clean.Metadata.GetPngMetadata().TextData.Add(new PngTextData(GenerationParameters.PngKeyword, json, "", ""));
            // Compression of text chunks off: the parameters stay readable with any PNG tool.
            encoder = new PngEncoder { ColorType = PngColorType.Rgb, BitDepth = PngBitDepth.Bit8, TextCompressionThreshold = int.MaxValue };
        }
        else
        {
            var exif = new ExifProfile();
            exif.SetValue(ExifTag.ImageDescription, json);
            clean.Metadata.ExifProfile = exif;
            encoder = format == ImageFormat.Jpeg
                ? new JpegEncoder { Quality = quality, ColorType = JpegColorType.YCbCrRatio420 }
                : new WebpEncoder { Quality = quality, FileFormat = WebpFileFormatType.Lossy };
        }

        using var output = new MemoryStream();
        clean.Save(output, encoder);
        return new GeneratedImage
        {
            Image = Google.Protobuf.ByteString.CopyFrom(output.GetBuffer(), 0, (int)output.Length),
            Seed = parameters.Seed,
            Width = clean.Width,
            Height = clean.Height,
            Format = format,
        };
    }
}
