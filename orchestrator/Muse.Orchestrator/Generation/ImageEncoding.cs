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
/// The final encoding of a generated image: the image tokenizer's PNG re-encoded in the requested format with the
/// generation parameters inside. Deterministic: the same pixels and parameters always give the same bytes.
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
