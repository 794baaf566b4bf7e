using Muse.Protos.V1;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace Muse.EndToEnd.Tests;

/// <summary>Edit on the real services: inpainting, outpainting and mask-free editing, each end to end.</summary>
[Collection(SharedCluster.Name)]
public sealed class EditTests(ClusterFixture fixture)
{
    // Blending pastes the input back exactly; the PNG round trip is lossless, so only a re-encode could add error.
    private const int Tolerance = 2;

    [Fact]
    public async Task Inpaint_CentreMask_KeepsPixelsOutsideTheMaskAndChangesInside()
    {
        var size = await OutputSizeAsync();
        var image = EditSamples.ScenePng(size, size);
        var (x0, y0, x1, y1) = (size / 4, size / 4, 3 * size / 4, 3 * size / 4);

        var events = await fixture.EditAsync(EditSamples.Inpaint(image, EditSamples.MaskPng(size, size, x0, y0, x1, y1), seed: 11));

        Assert.NotNull(events[0].Accepted);
        Assert.Equal(
            [("base", 1, 0), ("base", 2, 0), ("sr", 1, 0), ("sr", 2, 0)],
            events.Where(e => e.Progress is not null).Select(e => (e.Progress.Stage, e.Progress.Step, e.Progress.Round)));
        var result = events[^1].Result;
        Assert.NotNull(result);
        using var edited = Image.Load<Rgb24>(result.Image.Span);
        using var original = Image.Load<Rgb24>(image);
        Assert.Equal((size, size), (edited.Width, edited.Height));
        Assert.InRange(EditSamples.MaxDifference(edited, original, (x, y) => !Inside(x, y)), 0, Tolerance);
        Assert.True(EditSamples.MaxDifference(edited, original, Inside) > 30, "the masked region was not regenerated");

        bool Inside(int x, int y) => x >= x0 && x < x1 && y >= y0 && y < y1;
    }

    [Fact]
    public async Task Inpaint_SameSeedTwice_IdenticalPngAndOtherSeedDiffers()
    {
        var size = await OutputSizeAsync();
        var image = EditSamples.ScenePng(size, size);
        var mask = EditSamples.MaskPng(size, size, 0, 0, size / 2, size);

        var first = (await fixture.EditAsync(EditSamples.Inpaint(image, mask, seed: 5)))[^1].Result;
        var second = (await fixture.EditAsync(EditSamples.Inpaint(image, mask, seed: 5)))[^1].Result;
        var other = (await fixture.EditAsync(EditSamples.Inpaint(image, mask, seed: 6)))[^1].Result;

        Assert.Equal(first.Image, second.Image);
        Assert.NotEqual(first.Image, other.Image);
    }

    [Fact]
    public async Task Inpaint_BlendOff_ReturnsTheDecodedImageOutsideTheMaskToo()
    {
        var size = await OutputSizeAsync();
        var image = EditSamples.ScenePng(size, size);
        var request = EditSamples.Inpaint(image, EditSamples.MaskPng(size, size, 0, 0, size / 4, size / 4), seed: 3);
        request.Blend = false;

        var result = (await fixture.EditAsync(request))[^1].Result;

        // The VQGAN's reconstruction is close to the input at best, never exact, so without blending the kept region changes.
        using var edited = Image.Load<Rgb24>(result.Image.Span);
        using var original = Image.Load<Rgb24>(image);
        Assert.True(EditSamples.MaxDifference(edited, original, (x, y) => x >= size / 2) > Tolerance);
    }

    [Fact]
    public async Task Inpaint_LargerJpegInput_IsResizedToTheOutputSize()
    {
        var size = await OutputSizeAsync();
        var jpeg = EditSamples.SceneJpeg(2 * size, 2 * size);
        var mask = EditSamples.MaskPng(2 * size, 2 * size, 0, 0, size, size);

        var result = (await fixture.EditAsync(EditSamples.Inpaint(jpeg, mask, seed: 2)))[^1].Result;

        Assert.Equal((size, size), (result.Width, result.Height));
        using var edited = Image.Load<Rgb24>(result.Image.Span);
        Assert.Equal((size, size), (edited.Width, edited.Height));
    }

    [Fact]
    public async Task Outpaint_RightMargin_PlacesTheShrunkOriginalAndGeneratesTheRest()
    {
        var size = await OutputSizeAsync();
        var image = EditSamples.ScenePng(size, size);

        // Canvas 2·size × size, scaled to fit: the original becomes size/2 square at the left, vertically centred.
        var events = await fixture.EditAsync(EditSamples.Outpaint(image, left: 0, right: size, top: 0, bottom: 0, seed: 4));

        var result = events[^1].Result;
        Assert.NotNull(result);
        using var edited = Image.Load<Rgb24>(result.Image.Span);
        using var placed = EditSamples.Resized(image, size / 2, size / 2);
        var top = size / 4;
        var difference = 0;
        for (var y = 0; y < size / 2; y++)
        {
            for (var x = 0; x < size / 2; x++)
            {
                var (p, q) = (edited[x, y + top], placed[x, y]);
                difference = Math.Max(difference, Math.Max(Math.Abs(p.R - q.R), Math.Max(Math.Abs(p.G - q.G), Math.Abs(p.B - q.B))));
            }
        }

        Assert.InRange(difference, 0, Tolerance);
        // The new area is generated: the right half is not the grey the canvas started with.
        Assert.Contains(Enumerable.Range(size / 2, size / 2), x => edited[x, size / 2] != new Rgb24(127, 127, 127));
    }

    [Fact]
    public async Task MaskFree_TwoRounds_ReportsRoundsAndIsDeterministic()
    {
        var size = await OutputSizeAsync();
        var image = EditSamples.ScenePng(size, size);

        var events = await fixture.EditAsync(EditSamples.MaskFree(image, iterations: 2, seed: 9));
        var again = await fixture.EditAsync(EditSamples.MaskFree(image, iterations: 2, seed: 9));

        Assert.Equal(
            [(1, "base"), (1, "base"), (1, "sr"), (1, "sr"), (2, "base"), (2, "base"), (2, "sr"), (2, "sr")],
            events.Where(e => e.Progress is not null).Select(e => (e.Progress.Round, e.Progress.Stage)));
        Assert.All(events.Where(e => e.Progress is not null), e => Assert.Equal(2, e.Progress.Rounds));
        var result = events[^1].Result;
        Assert.NotNull(result);
        Assert.Equal(result.Image, again[^1].Result.Image);
        using var edited = Image.Load<Rgb24>(result.Image.Span);
        using var original = Image.Load<Rgb24>(image);
        Assert.True(EditSamples.MaxDifference(edited, original, (_, _) => true) > 30, "mask-free editing changed nothing");
    }

    private async Task<int> OutputSizeAsync()
    {
        var pipeline = (await fixture.Client.ListModelsAsync(new ListModelsRequest())).Pipelines[0];
        Assert.Equal(pipeline.Width, pipeline.Height);
        return pipeline.Width;
    }
}
