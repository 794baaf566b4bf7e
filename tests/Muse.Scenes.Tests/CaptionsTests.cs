namespace Muse.Scenes.Tests;

public sealed class CaptionsTests
{
    public static TheoryData<string, SceneDescription> RequiredPhrasings => new()
    {
        { "a large red circle on the left", SceneDescription.OneObject(new(Shape.Circle, Colour.Red, ObjectSize.Large, GridPosition.Left)) },
        { "a yellow square at the top", SceneDescription.OneObject(new(Shape.Square, Colour.Yellow, Position: GridPosition.Top)) },
        { "a blue triangle in the center", SceneDescription.OneObject(new(Shape.Triangle, Colour.Blue, Position: GridPosition.Center)) },
        {
            "a small blue square in the top right corner on a black background",
            SceneDescription.OneObject(new(Shape.Square, Colour.Blue, ObjectSize.Small, GridPosition.TopRight), Background.Black)
        },
        {
            "a green triangle above a yellow circle",
            SceneDescription.Pair(new(Shape.Triangle, Colour.Green), Relation.Above, new(Shape.Circle, Colour.Yellow))
        },
        {
            "a red square left of a blue circle",
            SceneDescription.Pair(new(Shape.Square, Colour.Red), Relation.LeftOf, new(Shape.Circle, Colour.Blue))
        },
    };

    [Theory]
    [MemberData(nameof(RequiredPhrasings))]
    public void Describe_RequiredPhrasing_IsProducedVerbatimForSomeSeed(string phrasing, SceneDescription description)
    {
        var captions = Enumerable.Range(0, 500).Select(seed => Captions.Describe(description, (ulong)seed)).ToHashSet();

        Assert.Contains(phrasing, captions);
    }

    [Theory]
    [MemberData(nameof(RequiredPhrasings))]
    public void Parse_RequiredPhrasing_ReadsItsDescription(string phrasing, SceneDescription description)
    {
        var parsed = Captions.Parse(phrasing);

        Assert.Equal(description, parsed);
    }

    [Fact]
    public void Describe_SameSeed_GivesSameCaption()
    {
        var description = SceneSampler.Sample(3, 7).Description;

        var first = Captions.Describe(description, 42);
        var second = Captions.Describe(description, 42);

        Assert.Equal(first, second);
    }

    [Fact]
    public void Describe_DifferentSeeds_GiveParaphrases()
    {
        var description = SceneDescription.OneObject(new(Shape.Circle, Colour.Red, ObjectSize.Large, GridPosition.TopLeft), Background.Gray);

        var captions = Enumerable.Range(0, 200).Select(seed => Captions.Describe(description, (ulong)seed)).Distinct().ToList();

        Assert.True(captions.Count >= 10, $"only {captions.Count} paraphrases");
        Assert.All(captions, c => Assert.Equal(description, Captions.Parse(c)));
    }

    [Fact]
    public void Describe_UnstatedSizeAndBackground_AreLeftOut()
    {
        var description = SceneDescription.Pair(new(Shape.Circle, Colour.Purple), Relation.Below, new(Shape.Square, Colour.Green));

        var captions = Enumerable.Range(0, 50).Select(seed => Captions.Describe(description, (ulong)seed)).ToList();

        string[] unwanted = ["small", "little", "large", "big", "background", "white", "black", "gray"];
        Assert.All(captions, c => Assert.DoesNotContain(c.Split(' '), unwanted.Contains));
    }

    [Fact]
    public void Describe_OrangeWithoutSize_TakesAn()
    {
        var description = SceneDescription.OneObject(new(Shape.Circle, Colour.Orange, Position: GridPosition.Left));

        var captions = Enumerable.Range(0, 50).Select(seed => Captions.Describe(description, (ulong)seed)).ToList();

        Assert.All(captions, c => Assert.Contains("an orange circle", c, StringComparison.Ordinal));
    }

    [Fact]
    public void Describe_InvalidDescription_Throws()
    {
        var twoWithoutRelation = new SceneDescription(null, [new(Shape.Circle, Colour.Red), new(Shape.Square, Colour.Blue)]);

        Assert.Throws<ArgumentException>(() => Captions.Describe(twoWithoutRelation, 0));
    }

    [Fact]
    public void Parse_SampledCaptions_RoundTripToTheirDescriptions()
    {
        var samples = Dataset.TrainingSamples(11, 0, 2000).Concat(Dataset.HeldOutSamples(200));

        Assert.All(samples, s => Assert.Equal(s.Description, Captions.Parse(s.Caption)));
    }

    [Theory]
    [InlineData("a red circle")]
    [InlineData("a red circle on the left on")]
    [InlineData("a red circle on the left above a blue square")]
    [InlineData("there is a red circle above a blue square")]
    [InlineData("a pink circle on the left")]
    [InlineData("")]
    public void TryParse_TextOutsideTheGrammar_ReturnsFalse(string text)
    {
        var parsed = Captions.TryParse(text, out var description);

        Assert.False(parsed);
        Assert.Null(description);
    }

    [Fact]
    public void Vocabulary_CoversEveryWordOfEveryCaption()
    {
        var vocabulary = Captions.Vocabulary.ToHashSet();
        var words = Dataset.TrainingSamples(5, 0, 5000).Concat(Dataset.HeldOutSamples(300))
            .SelectMany(s => s.Caption.Split(' '))
            .ToHashSet();

        Assert.Subset(vocabulary, words);
    }

    [Fact]
    public void Vocabulary_IsLowerCaseDistinctAndSorted()
    {
        var vocabulary = Captions.Vocabulary;

        Assert.All(vocabulary, w => Assert.Equal(w.ToLowerInvariant(), w));
        Assert.Equal(vocabulary.Distinct().Order(StringComparer.Ordinal), vocabulary);
        Assert.Contains("an", vocabulary);
    }
}
