using Muse.Imaging;
using Muse.Protos.V1;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats;
using SixLabors.ImageSharp.Formats.Jpeg;
using SixLabors.ImageSharp.Formats.Png;
using SixLabors.ImageSharp.Formats.Webp;
using SixLabors.ImageSharp.PixelFormats;

namespace Muse.Client;

/// <summary>Several images side by side on one sheet (<c>--grid</c>).</summary>
internal static class ContactSheet
{
    /// <summary>Lays the images out in rows of ⌈√n⌉ cells of the first image's size, in order, on black.</summary>
    public static byte[] Compose(IReadOnlyList<GeneratedImage> images, ImageFormat format, int quality)
    {
        var cells = images.Select(i => Image.Load<Rgb24>(i.Image.Span)).ToList();
        try
        {
            using var sheet = ImageGrid.Compose(cells, (int)Math.Ceiling(Math.Sqrt(images.Count)), gap: 0, new Rgb24(0, 0, 0));
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
        finally
        {
            cells.ForEach(c => c.Dispose());
        }
    }
}
