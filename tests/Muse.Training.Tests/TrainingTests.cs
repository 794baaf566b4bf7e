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
    public void Corrupt_VisiblePositionsOnly_AnotherCodeAtAboutTheShare()
    {
        const int n = 4096, k = 512;
        var masked = Masking.Draw(1, 202, 7, 0, n, fixedRatio: 0.5);
        var truth = Enumerable.Range(0, n).Select(i => (long)(i % k)).ToArray();

        var codes = Masking.Corrupt(1, 202, 7, 0, masked, truth, k, share: 0.1);

        Assert.Equal(codes, Masking.Corrupt(1, 202, 7, 0, masked, truth, k, share: 0.1));
        Assert.All(Enumerable.Range(0, n).Where(i => masked[i]), i => Assert.Equal(-1, codes[i]));
        var corrupted = Enumerable.Range(0, n).Where(i => codes[i] >= 0).ToArray();
        Assert.All(corrupted, i => Assert.InRange(codes[i], 0, k - 1));
        Assert.All(corrupted, i => Assert.NotEqual(truth[i], codes[i]));
        Assert.InRange(corrupted.Length / (double)masked.Count(m => !m), 0.08, 0.12);
        Assert.All(Masking.Corrupt(1, 202, 7, 0, masked, truth, k, share: 0), c => Assert.Equal(-1, c));
    }

    [Fact]
    public void Window_CropOfTheGrid_IsARowMajorSquareInsideIt()
    {
        var seen = new HashSet<long>();
        for (var sample = 0; sample < 64; sample++)
        {
            var window = Masking.Window(6, 203, 3, sample, 32, 32, 16);

            Assert.Equal(window, Masking.Window(6, 203, 3, sample, 32, 32, 16));
            Assert.Equal(256, window.Length);
            var (top, left) = (window[0] / 32, window[0] % 32);
            Assert.InRange(top, 0, 16);
            Assert.InRange(left, 0, 16);
            Assert.Equal(Enumerable.Range(0, 256).Select(i => ((top + (i / 16)) * 32) + left + (i % 16)), window);
            seen.Add(window[0]);
        }

        Assert.True(seen.Count > 20, $"only {seen.Count} distinct windows in 64 samples");
        Assert.Equal(Enumerable.Range(0, 64).Select(i => (long)i), Masking.Window(1, 203, 0, 0, 8, 8, 8));
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
