using Muse.Decoding;

namespace Muse.Decoding.Tests;

public sealed class TokenStateTests
{
    private const int Mask = 8;     // codebook of K = 8, mask token id = K

    [Fact]
    public void AllMasked_Grid_EveryPositionMaskedNothingKnown()
    {
        var sut = TokenState.AllMasked(2, 4, Mask);

        Assert.Equal(8, sut.Length);
        Assert.Equal(8, sut.InitiallyMasked);
        Assert.Equal(8, sut.MaskedCount);
        Assert.All(sut.Tokens, t => Assert.Equal(Mask, t));
        Assert.DoesNotContain(true, sut.Known);
    }

    [Fact]
    public void ForEditing_EditMask_MasksOnlyEditedAndKnowsTheRest()
    {
        int[] tokens = [1, 2, 3, 4];
        bool[] edit = [false, true, true, false];

        var sut = TokenState.ForEditing(2, 2, Mask, tokens, edit);

        Assert.Equal([1, Mask, Mask, 4], sut.Tokens);
        Assert.Equal([true, false, false, true], sut.Known);
        Assert.Equal(2, sut.InitiallyMasked);
    }

    [Fact]
    public void Constructor_KnownPositionMasked_Throws()
    {
        Assert.Throws<ArgumentException>(() => new TokenState(1, 2, Mask, [Mask, 1], [true, false]));
    }

    [Fact]
    public void Accept_Sampled_FillsOnlyMaskedPositions()
    {
        var sut = TokenState.ForEditing(1, 4, Mask, [1, 2, 3, 4], [true, false, true, false]);

        sut.Accept([7, 7, 7, 7]);

        Assert.Equal([7, 2, 7, 4], sut.Tokens);
        Assert.Equal([7, 2, 7, 4], sut.Prediction);
        Assert.Equal(0, sut.MaskedCount);
    }

    [Fact]
    public void Accept_MaskTokenAtMaskedPosition_ThrowsAndLeavesStateUnchanged()
    {
        var sut = TokenState.AllMasked(1, 2, Mask);

        Assert.Throws<ArgumentException>(() => sut.Accept([0, Mask]));

        Assert.Equal([Mask, Mask], sut.Tokens);
        Assert.Equal(2, sut.MaskedCount);
    }

    [Fact]
    public void Remask_ZeroChoiceTemperature_MasksExactlyTheLowestConfidences()
    {
        var sut = TokenState.AllMasked(2, 4, Mask);
        sut.Accept([0, 1, 2, 3, 4, 5, 6, 7]);
        float[] confidence = [0.9f, 0.1f, 0.5f, 0.3f, 0.8f, 0.05f, 0.7f, 0.6f];

        sut.Remask(confidence, 3, 0, 1, DecodeStage.Base, 0);

        // The three lowest are 0.05 (5), 0.1 (1) and 0.3 (3).
        Assert.Equal([0, Mask, 2, Mask, 4, Mask, 6, 7], sut.Tokens);
        Assert.Equal(3, sut.MaskedCount);
        Assert.Equal([0, 1, 2, 3, 4, 5, 6, 7], sut.Prediction);
    }

    [Fact]
    public void Remask_EqualConfidences_BreaksTiesByPosition()
    {
        var sut = TokenState.AllMasked(1, 4, Mask);
        sut.Accept([3, 3, 3, 3]);

        sut.Remask([0.5f, 0.5f, 0.5f, 0.5f], 2, 0, 1, DecodeStage.Base, 0);

        Assert.Equal([Mask, Mask, 3, 3], sut.Tokens);
    }

    [Fact]
    public void Remask_ZeroConfidence_IsMaskedFirst()
    {
        var sut = TokenState.AllMasked(1, 3, Mask);
        sut.Accept([1, 2, 3]);

        sut.Remask([0.2f, 0.1f, 0f], 1, 0, 1, DecodeStage.Base, 0);

        Assert.Equal([1, 2, Mask], sut.Tokens);
    }

    [Fact]
    public void Remask_KnownTokensWithZeroConfidenceAndStrongNoise_AreNeverMasked()
    {
        // Known positions 4..7 report confidence 0, the candidates 1: only +∞ keeps the known ones safe.
        int[] image = [1, 2, 3, 4, 5, 6, 7, 0];
        bool[] edit = [true, true, true, true, false, false, false, false];
        float[] confidence = [1f, 1f, 1f, 1f, 0f, 0f, 0f, 0f];

        for (ulong seed = 0; seed < 100; seed++)
        {
            var sut = TokenState.ForEditing(2, 4, Mask, image, edit);
            sut.Accept([6, 6, 6, 6, 6, 6, 6, 6]);

            sut.Remask(confidence, 3, 50, seed, DecodeStage.Base, 0);

            Assert.Equal(3, sut.Tokens.Take(4).Count(t => t == Mask));
            Assert.Equal([5, 6, 7, 0], sut.Tokens.Skip(4));
        }
    }

    [Fact]
    public void Remask_TokensAcceptedInEarlierStep_AreNotCandidatesAgain()
    {
        var sut = TokenState.AllMasked(1, 4, Mask);
        sut.Accept([1, 2, 3, 4]);
        sut.Remask([0.9f, 0.8f, 0.1f, 0.2f], 2, 0, 1, DecodeStage.Base, 0);     // keeps 0 and 1

        sut.Accept([5, 5, 5, 5]);
        sut.Remask([0f, 0f, 0.9f, 0.8f], 1, 50, 1, DecodeStage.Base, 1);

        Assert.Equal(1, sut.Tokens[0]);
        Assert.Equal(2, sut.Tokens[1]);
        Assert.Equal(1, sut.MaskedCount);
        Assert.Contains(Mask, sut.Tokens.Skip(2));
    }

    [Fact]
    public void Remask_WithChoiceTemperature_RanksByLogConfidencePlusScaledGumbel()
    {
        var outcomes = new HashSet<int>();

        for (ulong seed = 0; seed < 64; seed++)
        {
            var sut = TokenState.AllMasked(1, 2, Mask);
            sut.Accept([1, 2]);

            sut.Remask([0.5f, 0.4f], 1, 2.0, seed, DecodeStage.SuperResolution, 4);

            var score0 = Math.Log(0.5f) + (2.0 * CounterRng.Gumbel(seed, DecodeStage.SuperResolution, 4, 0, RngPurpose.Remask));
            var score1 = Math.Log(0.4f) + (2.0 * CounterRng.Gumbel(seed, DecodeStage.SuperResolution, 4, 1, RngPurpose.Remask));
            var expected = score1 < score0 ? 1 : 0;
            Assert.Equal(Mask, sut.Tokens[expected]);
            Assert.NotEqual(Mask, sut.Tokens[1 - expected]);
            outcomes.Add(expected);
        }

        Assert.Equal(2, outcomes.Count);    // the noise did overturn the confidence order sometimes
    }

    [Fact]
    public void Remask_SameArguments_IsDeterministic()
    {
        var first = TokenState.AllMasked(4, 4, Mask);
        first.Accept(Enumerable.Range(0, 16).Select(i => i % Mask).ToArray());
        var second = TokenState.AllMasked(4, 4, Mask);
        second.Accept(Enumerable.Range(0, 16).Select(i => i % Mask).ToArray());
        var confidence = Enumerable.Range(0, 16).Select(i => (i * 0.37f) % 1f).ToArray();

        first.Remask(confidence, 7, 4.5, 99, DecodeStage.Base, 2);
        second.Remask(confidence, 7, 4.5, 99, DecodeStage.Base, 2);

        Assert.Equal(first.Tokens, second.Tokens);
    }

    [Fact]
    public void Remask_WithoutAccept_Throws()
    {
        var sut = TokenState.AllMasked(1, 2, Mask);

        Assert.Throws<InvalidOperationException>(() => sut.Remask([1f, 1f], 1, 0, 0, DecodeStage.Base, 0));
    }

    [Fact]
    public void Accept_Twice_Throws()
    {
        var sut = TokenState.AllMasked(1, 2, Mask);
        sut.Accept([0, 1]);

        Assert.Throws<InvalidOperationException>(() => sut.Accept([0, 1]));
    }

    [Fact]
    public void Remask_MoreThanWereMasked_Throws()
    {
        var sut = TokenState.ForEditing(1, 3, Mask, [1, 2, 3], [true, false, false]);
        sut.Accept([4, 4, 4]);

        Assert.Throws<ArgumentOutOfRangeException>(() => sut.Remask([0f, 0f, 0f], 2, 0, 0, DecodeStage.Base, 0));
    }

    [Fact]
    public void Clone_BetweenSteps_CopiesDeeply()
    {
        var sut = TokenState.AllMasked(1, 3, Mask);
        sut.Accept([1, 2, 3]);
        sut.Remask([0.1f, 0.9f, 0.9f], 1, 0, 0, DecodeStage.Base, 0);

        var copy = sut.Clone();
        copy.Accept([7, 7, 7]);

        Assert.Equal([Mask, 2, 3], sut.Tokens);
        Assert.Equal([1, 2, 3], sut.Prediction);
        Assert.Equal(3, copy.InitiallyMasked);
        Assert.Equal([7, 2, 3], copy.Tokens);
    }
}
