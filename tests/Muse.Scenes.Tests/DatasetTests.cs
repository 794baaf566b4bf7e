namespace Muse.Scenes.Tests;

public sealed class DatasetTests
{
    [Fact]
    public void TrainingSamples_NeverContainHeldOutCaptionsOrContent()
    {
        var heldOut = Dataset.HeldOutSamples(500).Select(s => s.Caption).ToHashSet();

        var training = Dataset.TrainingSamples(0, 0, 5000).ToList();

        Assert.DoesNotContain(training, s => heldOut.Contains(s.Caption));
        Assert.DoesNotContain(training, s => Dataset.IsHeldOut(s.Caption));
    }

    [Fact]
    public void HeldOutSamples_AreHeldOutAndOfBothKinds()
    {
        var samples = Dataset.HeldOutSamples(300);

        Assert.All(samples, s => Assert.True(Dataset.IsHeldOut(s.Caption), s.Caption));
        Assert.Equal([1, 2], samples.Select(s => s.Description.Objects.Count).Distinct().Order());
    }

    [Fact]
    public void HardHeldOutSamples_AreHeldOutMostlyPairsWithSizesAndBackgroundsAndSmallShapesInCorners()
    {
        var samples = Dataset.HardHeldOutSamples(400, 2);
        var single = samples.Where(s => s.Description.Objects.Count == 1).Select(s => s.Description.Objects[0]).ToList();
        GridPosition[] corners = [GridPosition.TopLeft, GridPosition.TopRight, GridPosition.BottomLeft, GridPosition.BottomRight];

        Assert.All(samples, s => Assert.True(Dataset.IsHeldOut(s.Caption), s.Caption));
        Assert.All(samples, s => Assert.Equal(s.Description, Captions.Parse(s.Caption)));
        Assert.All(samples, s => Assert.True(s.Description.Background is not null && s.Description.Objects.All(o => o.Size is not null), s.Caption));
        Assert.InRange(samples.Count - single.Count, 0.65 * samples.Count, 0.85 * samples.Count);
        Assert.InRange(single.Count(o => o.Size == ObjectSize.Small && corners.Contains(o.Position!.Value)), 0.3 * single.Count, single.Count);
    }

    [Fact]
    public void HardHeldOutSamples_AreAPureFunctionOfTheSeed()
    {
        var again = Dataset.HardHeldOutSamples(50, 2);
        var prefix = Dataset.HardHeldOutSamples(20, 2);
        var otherSeed = Dataset.HardHeldOutSamples(50, 3);

        Assert.Equal(Dataset.HardHeldOutSamples(50, 2), again);
        Assert.Equal(again.Take(20), prefix);
        Assert.NotEqual(again.Select(s => s.Caption), otherSeed.Select(s => s.Caption));
        Assert.NotEqual(again.Select(s => s.Caption), Dataset.HeldOutSamples(50, 2).Select(s => s.Caption));
    }

    [Fact]
    public void IsHeldOut_EveryParaphraseAndMirrorOfAContent_Agrees()
    {
        var pair = Dataset.HeldOutSamples(300).First(s => s.Description.Relation == Relation.Above).Description;
        var mirror = pair with { Objects = [pair.Objects[1], pair.Objects[0]], Relation = Relation.Below };

        var captions = Enumerable.Range(0, 100).SelectMany(seed => new[] { Captions.Describe(pair, (ulong)seed), Captions.Describe(mirror, (ulong)seed) });

        Assert.All(captions, c => Assert.True(Dataset.IsHeldOut(c), c));
    }

    [Fact]
    public void IsHeldOut_AboutFivePercentOfContents()
    {
        var one = (from c in Enum.GetValues<Colour>()
                   from s in Enum.GetValues<Shape>()
                   from p in Enum.GetValues<GridPosition>()
                   select SceneDescription.OneObject(new(s, c, Position: p))).ToList();
        var pairs = (from a in one.Select(d => d.Objects[0] with { Position = null }).Distinct()
                     from b in one.Select(d => d.Objects[0] with { Position = null }).Distinct()
                     where a.Colour != b.Colour
                     from r in new[] { Relation.Above, Relation.LeftOf }
                     select SceneDescription.Pair(a, r, b)).ToList();

        var heldOutOne = one.Count(Dataset.IsHeldOut);
        var heldOutPairs = pairs.Count(Dataset.IsHeldOut);

        Assert.InRange(heldOutOne, 2, 20);     // of 162, 8 expected
        Assert.InRange(heldOutPairs, 10, 50);  // of 540, 27 expected
    }

    [Theory]
    [InlineData("a large red circle on the left")]
    [InlineData("a yellow square at the top")]
    [InlineData("a blue triangle in the center")]
    [InlineData("a small blue square in the top right corner on a black background")]
    [InlineData("a green triangle above a yellow circle")]
    [InlineData("a red square left of a blue circle")]
    public void IsHeldOut_DemonstrationPrompts_AreTrainedOn(string caption)
    {
        var heldOut = Dataset.IsHeldOut(caption);

        Assert.False(heldOut);
    }

    [Fact]
    public void IsHeldOut_TextOutsideTheGrammar_IsFalse()
    {
        var heldOut = Dataset.IsHeldOut("a photograph of a cat");

        Assert.False(heldOut);
    }

    [Fact]
    public void TrainingSamples_AreTheSamplersSamples()
    {
        var slice = Dataset.TrainingSamples(5, 100, 10).ToList();

        Assert.Equal(Enumerable.Range(100, 10).Select(i => SceneSampler.Sample(5, i)), slice);
    }

    [Fact]
    public void DatasetHash_IsPinnedSha256Hex()
    {
        var hash = Dataset.DatasetHash;

        // Pinned: a change to the grammar, palette, geometry or split must come with a new Dataset.Version.
        Assert.Matches("^[0-9a-f]{64}$", hash);
        Assert.Equal(PinnedHash, hash);
    }

    private const string PinnedHash = "e3c64ebb7e961996b1b45ed11974d547a5fb6cd9352f1b9997313e3308828599";
}
