using Muse.Hosting;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Png;
using SixLabors.ImageSharp.PixelFormats;
using SixLabors.ImageSharp.Processing;

namespace Muse.Orchestrator.Generation;

/// <summary>
/// The pixel work of an edit, on images the upload guard has already decoded (so their size is bounded): the
/// size rule, the outpainting canvas, masks, and pasting original pixels back.
/// </summary>
public static class EditImages
{
    /// <summary>Smallest side of an image to edit, in pixels.</summary>
    public const int MinSide = 32;

    private static readonly PngEncoder Encoder = new() { ColorType = PngColorType.Rgb, BitDepth = PngBitDepth.Bit8 };

    /// <summary>
    /// The size rule of inpainting and mask-free editing: a square image of at least <see cref="MinSide"/> px,
    /// resized (bicubic) to <paramref name="size"/>×<paramref name="size"/> unless it already has that size.
    /// </summary>
    /// <exception cref="Grpc.Core.RpcException">INVALID_ARGUMENT: not square, or too small.</exception>
    /// <remarks>The caller owns the returned image.</remarks>
    public static Image<Rgb24> ToSquare(Image<Rgb24> image, int size)
    {
        ArgumentNullException.ThrowIfNull(image);
        CheckMinimum(image);
        if (image.Width != image.Height)
        {
            MuseValidation.ThrowInvalidArgument(
                "image", $"is {image.Width}×{image.Height} px; editing needs a square image from {MinSide}×{MinSide} px up "
                + $"(e.g. {size}×{size} px, the output size; other square sizes are resized to it). Outpainting takes any aspect ratio.");
        }

        return Resized(image, size, size);
    }

    /// <summary>
    /// The outpainting canvas: the extended canvas (image plus margins) scaled so that its longer side is
    /// <paramref name="size"/> and centred on a square of that size; the image lands where the margins put it.
    /// The new area is masked, but the VQGAN encoder still sees it around the kept tokens: it is prefilled by
    /// continuing the image's edge pixels outward, so the kept tokens along the border encode no artificial edge
    /// (a flat grey fill did, and the transformers continued that edge into the new area).
    /// </summary>
    /// <returns>The canvas (the caller owns it) and its pixel mask ([size, size], 1 = new area to generate).</returns>
    public static (Image<Rgb24> Canvas, byte[] Mask) OutpaintCanvas(Image<Rgb24> image, OutpaintMargins margins, int size)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(margins);
        CheckMinimum(image);
        var longer = Math.Max(image.Width, image.Height);
        foreach (var (name, value) in new[] { ("left", margins.Left), ("right", margins.Right), ("top", margins.Top), ("bottom", margins.Bottom) })
        {
            MuseValidation.Require(
                value <= EditSettings.MaxMarginFactor * longer,
                $"is {value} px; margins may be at most {EditSettings.MaxMarginFactor}× the image's longer side ({EditSettings.MaxMarginFactor * longer} px).",
                $"outpaint.{name}");
        }

        var canvasWidth = image.Width + margins.Left + margins.Right;
        var canvasHeight = image.Height + margins.Top + margins.Bottom;
        var scale = (double)size / Math.Max(canvasWidth, canvasHeight);
        var offsetX = (size - (canvasWidth * scale)) / 2;
        var offsetY = (size - (canvasHeight * scale)) / 2;
        var left = (int)Math.Round(offsetX + (margins.Left * scale));
        var top = (int)Math.Round(offsetY + (margins.Top * scale));
        var width = Math.Clamp((int)Math.Round(image.Width * scale), 1, size - left);
        var height = Math.Clamp((int)Math.Round(image.Height * scale), 1, size - top);

        var canvas = new Image<Rgb24>(size, size);
        using (var placed = Resized(image, width, height))
        {
            // Every canvas pixel takes the placed image's nearest pixel: the image itself, its edges continued outward.
            canvas.ProcessPixelRows(placed, (target, source) =>
            {
                for (var y = 0; y < size; y++)
                {
                    var from = source.GetRowSpan(Math.Clamp(y - top, 0, height - 1));
                    var row = target.GetRowSpan(y);
                    for (var x = 0; x < size; x++)
                    {
                        row[x] = from[Math.Clamp(x - left, 0, width - 1)];
                    }
                }
            });
        }

        var mask = new byte[size * size];   // [size, size]
        Array.Fill(mask, (byte)1);
        for (var y = top; y < top + height; y++)
        {
            Array.Clear(mask, (y * size) + left, width);
        }

        return (canvas, mask);
    }

    /// <summary>
    /// An inpainting mask as a [<paramref name="size"/>, <paramref name="size"/>] pixel mask (1 = regenerate): a
    /// pixel of the mask image is set when its luminance is at least 128 (white = regenerate); an output pixel
    /// is set when any mask pixel that falls in it is (nearest pixel when the mask is smaller than the output).
    /// </summary>
    /// <exception cref="Grpc.Core.RpcException">INVALID_ARGUMENT: no pixel is set.</exception>
    public static byte[] InpaintMask(Image<Rgb24> mask, int size)
    {
        ArgumentNullException.ThrowIfNull(mask);
        var (width, height) = (mask.Width, mask.Height);
        var set = new byte[width * height];     // [height, width]
        mask.ProcessPixelRows(rows =>
        {
            for (var y = 0; y < rows.Height; y++)
            {
                var row = rows.GetRowSpan(y);
                for (var x = 0; x < row.Length; x++)
                {
                    var luminance = ((299 * row[x].R) + (587 * row[x].G) + (114 * row[x].B)) / 1000;
                    set[(y * width) + x] = luminance >= 128 ? (byte)1 : (byte)0;
                }
            }
        });
        MuseValidation.Require(set.AsSpan().Contains((byte)1), "is all black: nothing to regenerate (white marks the pixels to regenerate).", "inpaint.mask");

        if (width >= size && height >= size)
        {
            // Each output pixel is a cell of the mask: set when any mask pixel in it is.
            var cells = Decoding.EditMasks.FromPixelMask(set, width, height, size, size);
            return [.. cells.Select(c => c ? (byte)1 : (byte)0)];
        }

        var result = new byte[size * size];     // [size, size]
        for (var y = 0; y < size; y++)
        {
            var sourceRow = (int)((long)y * height / size);
            for (var x = 0; x < size; x++)
            {
                result[(y * size) + x] = set[(sourceRow * width) + (int)((long)x * width / size)];
            }
        }

        return result;
    }

    /// <summary>
    /// Pastes <paramref name="original"/> over <paramref name="generated"/> wherever <paramref name="mask"/> is 0,
    /// so pixels outside the edited region are exactly the input's. Both images have the mask's size.
    /// </summary>
    public static void PasteOutsideMask(Image<Rgb24> generated, Image<Rgb24> original, ReadOnlySpan<byte> mask)
    {
        ArgumentNullException.ThrowIfNull(generated);
        ArgumentNullException.ThrowIfNull(original);
        var width = generated.Width;
        if (original.Width != width || original.Height != generated.Height || mask.Length != width * generated.Height)
        {
            throw new ArgumentException(
                $"Generated {width}×{generated.Height}, original {original.Width}×{original.Height} and a mask of {mask.Length} pixels differ in size.");
        }

        var keep = mask.ToArray();
        generated.ProcessPixelRows(original, (to, from) =>
        {
            for (var y = 0; y < to.Height; y++)
            {
                var toRow = to.GetRowSpan(y);
                var fromRow = from.GetRowSpan(y);
                for (var x = 0; x < toRow.Length; x++)
                {
                    if (keep[(y * width) + x] == 0)
                    {
                        toRow[x] = fromRow[x];
                    }
                }
            }
        });
    }

    /// <summary>A copy of <paramref name="image"/> at <paramref name="width"/>×<paramref name="height"/> (bicubic; a plain copy at the same size).</summary>
    /// <remarks>The caller owns the returned image.</remarks>
    public static Image<Rgb24> Resized(Image<Rgb24> image, int width, int height)
    {
        ArgumentNullException.ThrowIfNull(image);
        var copy = image.Clone();
        if (copy.Width != width || copy.Height != height)
        {
            copy.Mutate(c => c.Resize(width, height, KnownResamplers.Bicubic));
        }

        return copy;
    }

    /// <summary>8-bit RGB PNG bytes of <paramref name="image"/>.</summary>
    public static byte[] ToPng(Image<Rgb24> image)
    {
        ArgumentNullException.ThrowIfNull(image);
        using var stream = new MemoryStream();
        image.SaveAsPng(stream, Encoder);
        return stream.ToArray();
    }

    private static void CheckMinimum(Image<Rgb24> image)
    {
        if (image.Width < MinSide || image.Height < MinSide)
        {
            MuseValidation.ThrowInvalidArgument(
                "image", $"is {image.Width}×{image.Height} px; images to edit need at least {MinSide} px per side.");
        }
    }
}
