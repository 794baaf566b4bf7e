namespace Muse.Scenes.Tests;

public sealed class SceneCheckerTests
{
    private static SceneCheckResult CheckRender(SceneSpec rendered, SceneDescription expected, int size = 64) =>
        SceneChecker.Check(SceneRenderer.Render(rendered, size), size, expected);

    private static List<SceneSpec> Specs(int count, int objects) =>
        [.. Dataset.TrainingSamples(21, 0, count * 3).Select(s => s.Spec).Where(s => s.Objects.Count == objects).Take(count)];

    // The centred side² window of a size² image; pixels outside it are the image's corner colour.
    private static byte[] Window(byte[] rgb, int size, int side)
    {
        var window = new byte[side * side * 3];
        var offset = (size - side) / 2;
        for (var y = 0; y < side; y++)
        {
            for (var x = 0; x < side; x++)
            {
                var (sx, sy) = (x + offset, y + offset);
                var source = sx >= 0 && sy >= 0 && sx < size && sy < size ? ((sy * size) + sx) * 3 : 0;
                rgb.AsSpan(source, 3).CopyTo(window.AsSpan(((y * side) + x) * 3));
            }
        }

        return window;
    }

    private static SceneSpec Replace(SceneSpec spec, Func<SceneObject, SceneObject> change) =>
        spec with { Objects = [change(spec.Objects[0]), .. spec.Objects.Skip(1)] };

    [Theory]
    [InlineData(64)]
    [InlineData(128)]
    public void Check_CleanRenders_AreAllCorrect(int size)
    {
        var samples = Dataset.TrainingSamples(8, 0, 300);

        var failures = samples
            .Where(s => !CheckRender(s.Spec, SceneDescription.Of(s.Spec), size).AllCorrect)
            .Select(s => s.Spec.ToString())
            .ToList();

        Assert.Empty(failures);
    }

    [Theory]
    [InlineData(64, 8.0, 1)]
    [InlineData(64, 12.0, 2)]
    [InlineData(128, 8.0, 1)]
    [InlineData(128, 12.0, 2)]
    public void Check_NoisyBlurredRenders_AreAtLeast95PercentCorrect(int size, double sigma, int blurPasses)
    {
        var samples = Dataset.TrainingSamples(13, 0, 300).ToList();

        var correct = samples.Count(s =>
        {
            var rgb = Degrade.Noise(Degrade.Blur(SceneRenderer.Render(s.Spec, size), size, blurPasses), sigma, (ulong)s.GetHashCode());
            return SceneChecker.Check(rgb, size, SceneDescription.Of(s.Spec)).AllCorrect;
        });

        Assert.True(correct >= 0.95 * samples.Count, $"{correct} of {samples.Count} correct");
    }

    [Fact]
    public void CircleSquarenessLimit_LiesInTheMiddleOfTheGapBetweenBlurredCirclesAndSquares()
    {
        var circles = new List<double>();
        var squares = new List<double>();
        foreach (var (sample, size) in Dataset.TrainingSamples(13, 0, 200).SelectMany(s => new[] { (s, 64), (s, 128) }))
        {
            for (var passes = 0; passes <= 3; passes++)
            {
                var rgb = SceneRenderer.Render(sample.Spec, size);
                var analysis = SceneChecker.Analyze(passes == 0 ? rgb : Degrade.Blur(rgb, size, passes), size);
                foreach (var o in sample.Spec.Objects.Where(o => o.Shape != Shape.Triangle))
                {
                    var found = analysis.Objects.Single(d => d.Colour == o.Colour);
                    (o.Shape == Shape.Circle ? circles : squares).Add(found.Squareness);
                }
            }
        }

        // Each side keeps a margin of at least a third of the gap (64 px with three blur passes sets its edges).
        var (roundest, squarest) = (circles.Max(), squares.Min());
        var margin = (squarest - roundest) / 3;
        Assert.InRange(SceneChecker.CircleSquarenessLimit, roundest + margin, squarest - margin);
    }

    [Fact]
    public void SizeLimits_LieAtLeastAFactorOf115BeyondTheExtentsOfBlurredRenders()
    {
        var extents = new Dictionary<ObjectSize, List<double>> { [ObjectSize.Small] = [], [ObjectSize.Large] = [] };
        foreach (var (sample, size) in Dataset.TrainingSamples(13, 0, 200).SelectMany(s => new[] { (s, 64), (s, 128) }))
        {
            for (var passes = 0; passes <= 3; passes++)
            {
                var rgb = SceneRenderer.Render(sample.Spec, size);
                var analysis = SceneChecker.Analyze(passes == 0 ? rgb : Degrade.Blur(rgb, size, passes), size);
                foreach (var o in sample.Spec.Objects)
                {
                    extents[o.Size].Add(analysis.Objects.Single(d => d.Colour == o.Colour).Extent);
                }
            }
        }

        // 64 px with three blur passes sets the lower edges (blurred triangles), clean squares the upper ones.
        const double Margin = 1.15;
        var (small, large) = (extents[ObjectSize.Small], extents[ObjectSize.Large]);
        Assert.InRange(small.Min(), SceneChecker.SmallExtentMinimum * Margin, double.MaxValue);
        Assert.InRange(small.Max(), 0, SceneChecker.LargeExtentLimit / Margin);
        Assert.InRange(large.Min(), SceneChecker.LargeExtentLimit * Margin, double.MaxValue);
        Assert.InRange(large.Max(), 0, SceneChecker.LargeExtentMaximum / Margin);
    }

    [Theory]
    [InlineData(Shape.Circle, 128, 64)]
    [InlineData(Shape.Square, 128, 64)]
    [InlineData(Shape.Triangle, 128, 64)]
    [InlineData(Shape.Circle, 64, 208)]
    [InlineData(Shape.Square, 64, 208)]
    public void Check_ShapeOfNeitherSize_IsRefusedWhetherOrNotTheCaptionStatesASize(Shape shape, int rendered, int side)
    {
        var spec = new SceneSpec(Background.White, [new SceneObject(shape, Colour.Blue, ObjectSize.Large, GridPosition.Center)]);
        var stated = SceneDescription.Of(spec);
        var unstated = SceneDescription.OneObject(stated.Objects[0] with { Size = null }, Background.White);

        // A centred window of a large shape's render: 128 → 64 px doubles its extent (0.56 of the side),
        // 64 px in a 208 px canvas takes it to 0.086 (smaller still, a triangle is dropped as noise).
        var rgb = Window(SceneRenderer.Render(spec, rendered), rendered, side);

        Assert.True(CheckRender(spec, stated).AllCorrect);
        Assert.True(CheckRender(spec, unstated).AllCorrect);
        Assert.All(new[] { stated, unstated }, expected =>
        {
            var result = SceneChecker.Check(rgb, side, expected);
            var o = result.Objects[0];

            Assert.Null(o.Detected?.Size);
            Assert.Equal(["object(size)"], result.Faults());
            Assert.False(result.AllCorrect);
        });
    }

    [Fact]
    public void Check_CaptionOnlyStates_LeavesUnstatedAttributesUnchecked()
    {
        var sample = Dataset.TrainingSamples(2, 0, 200).First(s => s.Description.Background is null && s.Description.Objects.Any(o => o.Size is null));

        var result = CheckRender(sample.Spec, sample.Description);

        Assert.Null(result.Background);
        Assert.True(result.AllCorrect);
        Assert.Empty(result.Faults());
    }

    [Fact]
    public void Check_WrongColour_IsDetected()
    {
        var specs = Specs(40, 1).Concat(Specs(40, 2));

        Assert.All(specs, spec =>
        {
            var unused = Enum.GetValues<Colour>().First(c => spec.Objects.All(o => o.Colour != c));
            var result = CheckRender(Replace(spec, o => o with { Colour = unused }), SceneDescription.Of(spec));

            Assert.False(result.Objects[0].Colour);
            Assert.True(result.Objects[0].Shape);
            Assert.False(result.AllCorrect);
        });
    }

    [Fact]
    public void Check_WrongShape_IsDetected()
    {
        var specs = Specs(40, 1).Concat(Specs(40, 2));

        Assert.All(specs, spec =>
        {
            var result = CheckRender(Replace(spec, o => o with { Shape = (Shape)(((int)o.Shape + 1) % 3) }), SceneDescription.Of(spec));

            Assert.False(result.Objects[0].Shape);
            Assert.True(result.Objects[0].Colour);
            Assert.False(result.AllCorrect);
        });
    }

    [Fact]
    public void Check_WrongPosition_IsDetected()
    {
        var specs = Specs(60, 1);

        Assert.All(specs, spec =>
        {
            var result = CheckRender(Replace(spec, o => o with { Position = (GridPosition)(((int)o.Position + 4) % 9) }), SceneDescription.Of(spec));

            Assert.Equal(false, result.Objects[0].Position);
            Assert.False(result.AllCorrect);
        });
    }

    [Fact]
    public void Check_WrongSize_IsDetected()
    {
        var specs = Specs(60, 1);

        Assert.All(specs, spec =>
        {
            var flipped = Replace(spec, o => o with { Size = o.Size == ObjectSize.Large ? ObjectSize.Small : ObjectSize.Large });

            var result = CheckRender(flipped, SceneDescription.Of(spec));

            Assert.False(result.Objects[0].Size);
            Assert.True(result.Objects[0].Shape);
            Assert.Equal(flipped.Objects[0].Size, result.Objects[0].Detected?.Size);
            Assert.False(result.AllCorrect);
        });
    }

    [Fact]
    public void Check_WrongBackground_IsDetected()
    {
        var specs = Specs(30, 1).Concat(Specs(30, 2));

        Assert.All(specs, spec =>
        {
            var result = CheckRender(spec with { Background = (Background)(((int)spec.Background + 1) % 3) }, SceneDescription.Of(spec));

            Assert.Equal(false, result.Background);
            Assert.All(result.Objects, o => Assert.True(o.Colour && o.Shape));
        });
    }

    [Fact]
    public void Check_SwappedPair_BreaksTheRelation()
    {
        var specs = Specs(60, 2);

        Assert.All(specs, spec =>
        {
            var (a, b) = (spec.Objects[0], spec.Objects[1]);
            var swapped = spec with { Objects = [a with { Position = b.Position }, b with { Position = a.Position }] };

            var result = CheckRender(swapped, SceneDescription.Of(spec));

            Assert.Equal(false, result.Relation);
            Assert.False(result.AllCorrect);
        });
    }

    [Fact]
    public void Check_MissingObject_IsNotFound()
    {
        var spec = Specs(1, 2)[0];
        var onlyFirst = spec with { Objects = [spec.Objects[0]] };

        var result = CheckRender(onlyFirst, SceneDescription.Of(spec));

        Assert.False(result.ObjectCount);
        Assert.Null(result.Objects[1].Detected);
        Assert.False(result.Objects[1].Colour);
        Assert.False(result.AllCorrect);
    }

    [Fact]
    public void Analyze_ExtraObject_FailsTheCount()
    {
        var spec = Specs(1, 1)[0];
        var extra = new SceneObject(Shape.Square, Enum.GetValues<Colour>().First(c => c != spec.Objects[0].Colour), ObjectSize.Small,
            (GridPosition)(((int)spec.Objects[0].Position + 4) % 9));

        var result = CheckRender(spec with { Objects = [spec.Objects[0], extra] }, SceneDescription.Of(spec));

        Assert.Equal(2, result.Analysis.Objects.Count);
        Assert.True(result.Objects[0].AllCorrect);
        Assert.False(result.ObjectCount);
        Assert.False(result.AllCorrect);
    }

    [Theory]
    [InlineData(0.05, null)]
    [InlineData(0.11, ObjectSize.Small)]
    [InlineData(0.16, ObjectSize.Small)]
    [InlineData(0.20, ObjectSize.Small)]
    [InlineData(0.22, ObjectSize.Large)]
    [InlineData(0.28, ObjectSize.Large)]
    [InlineData(0.34, ObjectSize.Large)]
    [InlineData(0.40, null)]
    public void SizeOf_ClassifiesExtents(double extent, ObjectSize? expected)
    {
        Assert.Equal(expected, SceneChecker.SizeOf(extent));
    }

    [Fact]
    public void Check_WrongBufferLength_Throws()
    {
        var description = SceneSampler.Sample(0, 0).Description;

        Assert.Throws<ArgumentException>(() => SceneChecker.Check(new byte[(64 * 64 * 3) - 1], 64, description));
    }
}
