using Grpc.Core;
using Muse.Decoding;
using Muse.Orchestrator.Generation;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace Muse.Orchestrator.Tests;

public sealed class EditImagesTests
{
    [Fact]
    public void OutpaintCanvas_RightMarginOfTheImageWidth_ImageHalfSizeAtLeftCentredVertically()
    {
        using var image = new Image<Rgb24>(100, 100, new Rgb24(200, 10, 10));

        var (canvas, mask) = EditImages.OutpaintCanvas(image, new OutpaintMargins(0, 100, 0, 0), 128);

        using (canvas)
        {
            // Canvas 200×100 → scale 0.64: the image is 64×64 at (0, 32); everything else is new.
            Assert.Equal((128, 128), (canvas.Width, canvas.Height));
            Assert.Equal(new Rgb24(200, 10, 10), canvas[10, 40]);
            Assert.Equal(0, mask[(40 * 128) + 10]);
            Assert.Equal(1, mask[(40 * 128) + 64]);
            Assert.Equal(1, mask[(31 * 128) + 10]);
            Assert.Equal(0, mask[(32 * 128) + 10]);
            Assert.Equal(1, mask[(96 * 128) + 10]);
            Assert.Equal(128 * 128 - (64 * 64), mask.Count(m => m == 1));
        }
    }

    [Fact]
    public void OutpaintCanvas_NewArea_ContinuesTheImageEdges()
    {
        // Left half black, right half white: outpainting to the right continues the white edge, to the left the black.
        using var image = new Image<Rgb24>(64, 64);
        image.ProcessPixelRows(rows =>
        {
            for (var y = 0; y < 64; y++)
            {
                rows.GetRowSpan(y)[32..].Fill(new Rgb24(255, 255, 255));
            }
        });

        var (canvas, mask) = EditImages.OutpaintCanvas(image, new OutpaintMargins(32, 32, 0, 0), 128);

        using (canvas)
        {
            // Canvas 128×64 → scale 1: the image at (32, 32); rows above and below are the top and bottom rows continued.
            Assert.Equal(1, mask[(40 * 128) + 5]);
            Assert.Equal(new Rgb24(0, 0, 0), canvas[5, 40]);
            Assert.Equal(new Rgb24(255, 255, 255), canvas[122, 40]);
            Assert.Equal(new Rgb24(255, 255, 255), canvas[120, 2]);
            Assert.Equal(new Rgb24(0, 0, 0), canvas[2, 125]);
        }
    }

    [Fact]
    public void OutpaintCanvas_MarginsOnEverySide_ImageCentred()
    {
        using var image = new Image<Rgb24>(64, 64);

        var (canvas, mask) = EditImages.OutpaintCanvas(image, new OutpaintMargins(32, 32, 32, 32), 128);

        canvas.Dispose();
        Assert.Equal(0, mask[(64 * 128) + 64]);
        Assert.Equal(1, mask[(10 * 128) + 64]);
        Assert.Equal(128 * 128 - (64 * 64), mask.Count(m => m == 1));
    }

    [Fact]
    public void OutpaintCanvas_MarginOverFourTimesTheImage_InvalidArgumentNamingTheMargin()
    {
        using var image = new Image<Rgb24>(40, 32);

        var error = Assert.Throws<RpcException>(() => EditImages.OutpaintCanvas(image, new OutpaintMargins(0, 0, 161, 0), 128));

        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Contains("160", error.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void InpaintMask_LargerMask_AnyWhitePixelMarksItsOutputPixel()
    {
        using var mask = new Image<Rgb24>(256, 256, new Rgb24(0, 0, 0));
        mask[3, 5] = new Rgb24(255, 255, 255);      // one pixel of the 2×2 block of output pixel (1, 2)

        var pixels = EditImages.InpaintMask(mask, 128);

        Assert.Equal(1, pixels[(2 * 128) + 1]);
        Assert.Equal(1, pixels.Count(p => p == 1));
    }

    [Fact]
    public void InpaintMask_GreyLevels_ThresholdAtHalfLuminance()
    {
        using var mask = new Image<Rgb24>(64, 64, new Rgb24(127, 127, 127));
        mask[0, 0] = new Rgb24(128, 128, 128);

        var pixels = EditImages.InpaintMask(mask, 64);

        Assert.Equal(1, pixels[0]);
        Assert.Equal(1, pixels.Count(p => p == 1));
    }

    [Fact]
    public void InpaintMask_AllBlack_InvalidArgument()
    {
        using var mask = new Image<Rgb24>(64, 64, new Rgb24(0, 0, 0));

        var error = Assert.Throws<RpcException>(() => EditImages.InpaintMask(mask, 128));

        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
    }

    [Theory]
    [InlineData(100, 100, 128)]
    [InlineData(128, 128, 128)]
    [InlineData(32, 32, 128)]
    public void ToSquare_SquareImage_ResizedToTheOutputSize(int width, int height, int size)
    {
        using var image = new Image<Rgb24>(width, height);

        using var square = EditImages.ToSquare(image, size);

        Assert.Equal((size, size), (square.Width, square.Height));
    }

    [Theory]
    [InlineData(128, 64)]
    [InlineData(31, 31)]
    [InlineData(1, 1)]
    public void ToSquare_NotSquareOrTooSmall_InvalidArgument(int width, int height)
    {
        using var image = new Image<Rgb24>(width, height);

        var error = Assert.Throws<RpcException>(() => EditImages.ToSquare(image, 128));

        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
    }

    [Fact]
    public void PasteOutsideMask_KeepsTheGeneratedPixelsOnlyWhereTheMaskIsSet()
    {
        using var generated = new Image<Rgb24>(4, 1, new Rgb24(1, 2, 3));
        using var original = new Image<Rgb24>(4, 1, new Rgb24(9, 9, 9));

        EditImages.PasteOutsideMask(generated, original, [1, 0, 0, 1]);

        Assert.Equal([new Rgb24(1, 2, 3), new Rgb24(9, 9, 9), new Rgb24(9, 9, 9), new Rgb24(1, 2, 3)], Enumerable.Range(0, 4).Select(x => generated[x, 0]));
    }

    [Fact]
    public void RoundSeed_EveryRoundAndStage_Distinct()
    {
        var seeds = Enumerable.Range(0, 16)
            .SelectMany(r => new[] { Editor.RoundSeed(7, DecodeStage.Base, r), Editor.RoundSeed(7, DecodeStage.SuperResolution, r) })
            .ToList();

        Assert.Equal(seeds.Count, seeds.Distinct().Count());
        Assert.Equal(Editor.RoundSeed(7, DecodeStage.Base, 3), Editor.RoundSeed(7, DecodeStage.Base, 3));
    }
}
