namespace Muse.Scenes.Tests;

public sealed class SceneRendererTests
{
    private static SceneSpec OneShape(Shape shape, Colour colour, Background background = Background.White, ObjectSize size = ObjectSize.Large, GridPosition position = GridPosition.Center) =>
        new(background, [new SceneObject(shape, colour, size, position)]);

    private static (byte R, byte G, byte B) PixelAt(byte[] rgb, int size, int x, int y)
    {
        var i = ((y * size) + x) * 3;
        return (rgb[i], rgb[i + 1], rgb[i + 2]);
    }

    [Theory]
    [InlineData(32)]
    [InlineData(64)]
    [InlineData(128)]
    [InlineData(256)]
    public void Render_AnySize_ReturnsSizeBySizeRgb(int size)
    {
        var rgb = SceneRenderer.Render(SceneSampler.Sample(0, 0).Spec, size);

        Assert.Equal(size * size * 3, rgb.Length);
    }

    [Fact]
    public void Render_SameSpec_GivesSamePixels()
    {
        var spec = SceneSampler.Sample(4, 4).Spec;

        var first = SceneRenderer.Render(spec, 128);
        var second = SceneRenderer.Render(spec, 128);

        Assert.Equal(first, second);
    }

    [Theory]
    [InlineData(Shape.Circle, Colour.Red, Background.White)]
    [InlineData(Shape.Square, Colour.Green, Background.Black)]
    [InlineData(Shape.Triangle, Colour.Blue, Background.Gray)]
    [InlineData(Shape.Circle, Colour.Yellow, Background.Black)]
    [InlineData(Shape.Square, Colour.Purple, Background.Gray)]
    [InlineData(Shape.Triangle, Colour.Orange, Background.White)]
    public void Render_InteriorAndBackground_HaveExactPaletteColours(Shape shape, Colour colour, Background background)
    {
        var rgb = SceneRenderer.Render(OneShape(shape, colour, background), 64);

        Assert.Equal(SceneGeometry.Rgb(colour), PixelAt(rgb, 64, 32, 32));
        Assert.Equal(SceneGeometry.Rgb(background), PixelAt(rgb, 64, 0, 0));
        Assert.Equal(SceneGeometry.Rgb(background), PixelAt(rgb, 64, 63, 63));
    }

    [Theory]
    [InlineData(Shape.Circle)]
    [InlineData(Shape.Square)]
    [InlineData(Shape.Triangle)]
    public void Render_Edges_AreAntiAliasedBlendsOfShapeAndBackground(Shape shape)
    {
        var (colour, background) = (SceneGeometry.Rgb(Colour.Blue), SceneGeometry.Rgb(Background.White));

        // At 70 px the square's edges (35 ± 9.8) fall between subsamples of a pixel, so they blend too.
        var rgb = SceneRenderer.Render(OneShape(shape, Colour.Blue), 70);
        var pixels = Enumerable.Range(0, 70 * 70).Select(i => (rgb[3 * i], rgb[(3 * i) + 1], rgb[(3 * i) + 2])).ToList();

        var blends = pixels.Where(p => p != colour && p != background).ToList();
        Assert.NotEmpty(blends);
        Assert.All(blends, p =>
        {
            // Every edge pixel lies on the segment from background to shape colour (rounding aside).
            var t = (double)(background.R - p.Item1) / (background.R - colour.R);
            Assert.InRange(t, 0, 1);
            Assert.InRange(Math.Abs(background.G + (t * (colour.G - background.G)) - p.Item2), 0, 1.5);
            Assert.InRange(Math.Abs(background.B + (t * (colour.B - background.B)) - p.Item3), 0, 1.5);
        });
    }

    [Theory]
    [InlineData(Shape.Square, 1.0)]
    [InlineData(Shape.Circle, Math.PI / 4)]
    [InlineData(Shape.Triangle, 0.5)]
    public void Render_Shape_CoversItsGeometricArea(Shape shape, double fillOfBoundingBox)
    {
        const int size = 128;
        var colour = SceneGeometry.Rgb(Colour.Red);

        var rgb = SceneRenderer.Render(OneShape(shape, Colour.Red, Background.White), size);

        // Coverage read back from the green channel, which runs from 255 (white) to 40 (red).
        var covered = Enumerable.Range(0, size * size).Sum(i => (255.0 - rgb[(3 * i) + 1]) / (255 - colour.G));
        var expected = fillOfBoundingBox * Math.Pow(SceneGeometry.LargeExtent * size, 2);
        Assert.InRange(covered, expected * 0.98, expected * 1.02);
    }

    [Fact]
    public void Render_LargeShapesInNeighbouringCells_KeepAGap()
    {
        var spec = new SceneSpec(Background.Black,
        [
            new SceneObject(Shape.Square, Colour.Red, ObjectSize.Large, GridPosition.Left),
            new SceneObject(Shape.Square, Colour.Green, ObjectSize.Large, GridPosition.Center),
        ]);

        var rgb = SceneRenderer.Render(spec, 64);

        // Between the cell centres (x = 10.7 and 32) the middle row has a run of pure background pixels.
        var between = Enumerable.Range(11, 21).Select(x => PixelAt(rgb, 64, x, 32)).ToList();
        var longestRun = between.Aggregate((Run: 0, Best: 0), (acc, p) => p == (0, 0, 0) ? (acc.Run + 1, Math.Max(acc.Best, acc.Run + 1)) : (0, acc.Best)).Best;
        Assert.True(longestRun >= 3, $"longest background run {longestRun}");
        Assert.Equal(SceneGeometry.Rgb(Colour.Red), between[0]);
        Assert.Equal(SceneGeometry.Rgb(Colour.Green), between[^1]);
    }

    [Fact]
    public void Render_TooSmall_Throws()
    {
        var spec = SceneSampler.Sample(0, 0).Spec;

        Assert.Throws<ArgumentOutOfRangeException>(() => SceneRenderer.Render(spec, 4));
    }
}
