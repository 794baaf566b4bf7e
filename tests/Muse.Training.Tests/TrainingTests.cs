using Muse.Scenes;
using Muse.Training;
using Muse.Training.Stages;

namespace Muse.Training.Tests;

public sealed class MaskingTests
{
    [Fact]
    public void Draw_SameCoordinates_SameMask()
    {
        var first = Masking.Draw(7, 202, 11, 3, 64);
        var second = Masking.Draw(7, 202, 11, 3, 64);

        Assert.Equal(first, second);
    }

    [Fact]
    public void Draw_FixedRatio_MasksCeilingOfRatioTimesN()
    {
        var masked = Masking.Draw(7, 202, 11, 3, 64, fixedRatio: 0.3);

        Assert.Equal(20, masked.Count(m => m)); // ⌈0.3·64⌉
    }

    [Fact]
    public void Draw_TinyRatio_MasksAtLeastOne()
    {
        var masked = Masking.Draw(1, 202, 0, 0, 256, fixedRatio: 0.0);

        Assert.Equal(1, masked.Count(m => m));
    }

    [Theory]
    [InlineData(0.0, 1.0)]
    [InlineData(1.0, 0.0)]
    [InlineData(0.5, 0.7071067811865476)]
    public void MaskSchedule_Cosine_MatchesFormula(double u, double expected)
    {
        Assert.Equal(expected, Masking.MaskSchedule(u), 12);
    }
}

public sealed class ScheduleTests
{
    [Fact]
    public void LearningRate_AfterWarmup_ReachesPeak()
    {
        Assert.Equal(2e-3, Schedule.LearningRate(2e-3, 199, 4000), 12);
    }

    [Fact]
    public void LearningRate_LastStep_DecaysToTenPercent()
    {
        Assert.Equal(2e-4, Schedule.LearningRate(2e-3, 4000, 4000), 12);
    }

    [Fact]
    public void LearningRate_FirstStep_IsSmall()
    {
        Assert.True(Schedule.LearningRate(2e-3, 0, 4000) < 2e-5);
    }
}

public sealed class CaptionTokenizerTests
{
    [Fact]
    public void Encode_Caption_EndsWithEosThenPads()
    {
        var sut = new CaptionTokenizer(32);

        var (ids, mask) = sut.Encode("a large red circle on the left");

        var length = mask.Count(m => m == 1);
        Assert.Equal(8, length); // seven words, each one piece, plus EOS
        Assert.Equal(CaptionTokenizer.EosId, ids[length - 1]);
        Assert.All(ids[length..], id => Assert.Equal(CaptionTokenizer.PadId, id));
    }

    [Fact]
    public void Encode_CaseAndSpaces_NormalizedAway()
    {
        var sut = new CaptionTokenizer(32);

        var plain = sut.Encode("a large red circle on the left");
        var shouted = sut.Encode("  A LARGE   red Circle on the left ");

        Assert.Equal(plain.Ids, shouted.Ids);
    }

    [Fact]
    public void Encode_EmptyText_IsEosOnly()
    {
        var sut = new CaptionTokenizer(32);

        var (ids, mask) = sut.Encode("");

        Assert.Equal(CaptionTokenizer.EosId, ids[0]);
        Assert.Equal(1, mask.Sum());
    }

    [Fact]
    public void Encode_EveryVocabularyWord_IsOnePiece()
    {
        var sut = new CaptionTokenizer(32);

        foreach (var word in Captions.Vocabulary)
        {
            var (_, mask) = sut.Encode(word);
            Assert.True(mask.Sum() == 2, $"'{word}' is not a single piece");
        }
    }
}
