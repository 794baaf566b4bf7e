using Muse.Protos.V1;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats;
using SixLabors.ImageSharp.Formats.Jpeg;
using SixLabors.ImageSharp.Formats.Png;
using SixLabors.ImageSharp.Formats.Webp;
using SixLabors.ImageSharp.PixelFormats;
using SixLabors.ImageSharp.Processing;

namespace Muse.Cli;

/// <summary>Several images side by side on one sheet (<c>--grid</c>).</summary>
internal static class ContactSheet
{
    /// <summary>Lays the images out in rows of ⌈√n⌉ cells of the first image's size, in order, on black.</summary>
    public static byte[] Compose(IReadOnlyList<GeneratedImage> images, ImageFormat format, int quality)
    {
        var columns = (int)Math.Ceiling(Math.Sqrt(images.Count));
        var rows = (images.Count + columns - 1) / columns;
        var (cellWidth, cellHeight) = (images[0].Width, images[0].Height);
        using var sheet = new Image<Rgb24>(columns * cellWidth, rows * cellHeight);
        for (var k = 0; k < images.Count; k++)
        {
            using var image = Image.Load<Rgb24>(images[k].Image.Span);
            var at = new Point(k % columns * cellWidth, k / columns * cellHeight);
            sheet.Mutate(c => c.DrawImage(image, at, 1f));
        }

        IImageEncoder encoder = format switch
        {
            ImageFormat.Jpeg => new JpegEncoder { Quality = quality },
            ImageFormat.Webp => new WebpEncoder { Quality = quality, FileFormat = WebpFileFormatType.Lossy },
            _ => new PngEncoder { ColorType = PngColorType.Rgb, BitDepth = PngBitDepth.Bit8 },
        };
        using var output = new MemoryStream();
        sheet.Save(output, encoder);
        return output.ToArray();
    }
}
