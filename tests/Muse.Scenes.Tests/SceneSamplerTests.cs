namespace Muse.Scenes.Tests;

public sealed class SceneSamplerTests
{
    [Fact]
    public void Sample_SameSeedAndIndex_IsIdentical()
    {
        var first = SceneSampler.Sample(7, 1234);
        var second = SceneSampler.Sample(7, 1234);

        Assert.Equal(first, second);
        Assert.Equal(SceneRenderer.Render(first.Spec, 64), SceneRenderer.Render(second.Spec, 64));
    }

    [Fact]
    public void Sample_DifferentSeeds_GiveDifferentData()
    {
        var first = Enumerable.Range(0, 20).Select(i => SceneSampler.Sample(1, i).Caption);
        var second = Enumerable.Range(0, 20).Select(i => SceneSampler.Sample(2, i).Caption);

        Assert.NotEqual(first, second);
    }

    [Fact]
    public void Sample_Spec_ResolvesWhatTheDescriptionStates()
    {
        var samples = Dataset.TrainingSamples(3, 0, 2000).ToList();

        Assert.All(samples, s =>
        {
            var (description, spec) = (s.Description, s.Spec);
            Assert.Equal(description.Objects.Count, spec.Objects.Count);
            Assert.True(description.Background is null || description.Background == spec.Background);
            foreach (var (want, got) in description.Objects.Zip(spec.Objects))
            {
                Assert.Equal((want.Shape, want.Colour), (got.Shape, got.Colour));
                Assert.True(want.Size is null || want.Size == got.Size);
                Assert.True(want.Position is null || want.Position == got.Position);
            }

            if (description.Relation is { } relation)
            {
                // Above/below share a column, left of/right of a row: the spec reads back as the same relation.
                Assert.Equal(relation, SceneDescription.Of(spec).Relation);
                Assert.NotEqual(spec.Objects[0].Colour, spec.Objects[1].Colour);
            }
        });
    }

    [Fact]
    public void Sample_Distribution_CoversEveryAttributeStatedAndUnstated()
    {
        var descriptions = Dataset.TrainingSamples(9, 0, 3000).Select(s => s.Description).ToList();
        var objects = descriptions.SelectMany(d => d.Objects).ToList();

        Assert.Equal([1, 2], descriptions.Select(d => d.Objects.Count).Distinct().Order());
        Assert.Equal(Enum.GetValues<Colour>().Length, objects.Select(o => o.Colour).Distinct().Count());
        Assert.Equal(Enum.GetValues<Shape>().Length, objects.Select(o => o.Shape).Distinct().Count());
        Assert.Equal(9, objects.Where(o => o.Position is not null).Select(o => o.Position).Distinct().Count());
        Assert.Equal(4, descriptions.Where(d => d.Relation is not null).Select(d => d.Relation).Distinct().Count());
        Assert.Equal(3, objects.Select(o => o.Size).Distinct().Count());              // small, large, unstated
        Assert.Equal(4, descriptions.Select(d => d.Background).Distinct().Count());   // three, and unstated
    }

    [Fact]
    public void Resolve_UnstatedAttributes_VaryWithTheSeed()
    {
        var description = SceneDescription.Pair(new(Shape.Circle, Colour.Red), Relation.Above, new(Shape.Square, Colour.Blue));

        var specs = Enumerable.Range(0, 100).Select(seed => SceneSampler.Resolve(description, (ulong)seed)).ToList();

        Assert.Equal(3, specs.Select(s => s.Background).Distinct().Count());
        Assert.Equal(2, specs.Select(s => s.Objects[0].Size).Distinct().Count());
        Assert.Equal(9, specs.Select(s => (s.Objects[0].Position, s.Objects[1].Position)).Distinct().Count()); // 3 columns × 3 row pairs
        Assert.All(specs, s => Assert.True(SceneGeometry.Row(s.Objects[0].Position) < SceneGeometry.Row(s.Objects[1].Position)));
    }
}
