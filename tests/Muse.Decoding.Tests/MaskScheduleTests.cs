using CsCheck;
using Muse.Decoding;

namespace Muse.Decoding.Tests;

public sealed class MaskScheduleTests
{
    [Fact]
    public void MaskCount_Cosine12Steps64Tokens_MatchesHandComputedFloors()
    {
        // ⌊64·cos(π/2 · t/12)⌋ for t = 0..11 (no clamp binds at this size), then 0.
        int[] expected = [64, 63, 61, 59, 55, 50, 45, 38, 32, 24, 16, 8, 0];
        var sut = new MaskSchedule(MaskScheduleKind.Cosine, 12);

        var actual = Enumerable.Range(0, 13).Select(t => sut.MaskCount(t, 64)).ToArray();

        Assert.Equal(expected, actual);
    }

    [Fact]
    public void MaskCount_FewerTokensThanSteps_ClampsToFixAtLeastOneAndKeepOneMasked()
    {
        // Unclamped floors for N = 4 are 4, 3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 0, 0: every step must fix one
        // token while more than one is masked, and one stays masked until the last step.
        int[] expected = [4, 3, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0];
        var sut = new MaskSchedule(MaskScheduleKind.Cosine, 12);

        var actual = Enumerable.Range(0, 13).Select(t => sut.MaskCount(t, 4)).ToArray();

        Assert.Equal(expected, actual);
    }

    [Fact]
    public void MaskCount_LastStep_LeavesNoTokenMasked()
    {
        var sut = new MaskSchedule(MaskScheduleKind.Cosine, 12);

        Assert.Equal(0, sut.MaskCount(12, 1));
        Assert.Equal(0, sut.MaskCount(12, 4096));
    }

    [Fact]
    public void MaskCount_NothingMasked_StaysZero()
    {
        var sut = new MaskSchedule(MaskScheduleKind.Cosine, 8);

        Assert.All(Enumerable.Range(0, 9), t => Assert.Equal(0, sut.MaskCount(t, 0)));
    }

    [Fact]
    public void MaskCount_LinearSchedule_FixesEqualShares()
    {
        var sut = new MaskSchedule(MaskScheduleKind.Linear, 4);

        var actual = Enumerable.Range(0, 5).Select(t => sut.MaskCount(t, 64)).ToArray();

        Assert.Equal([64, 48, 32, 16, 0], actual);
    }

    [Theory]
    [InlineData(MaskScheduleKind.Cosine, 0.5, 0.70710678118654757)]
    [InlineData(MaskScheduleKind.Linear, 0.25, 0.75)]
    [InlineData(MaskScheduleKind.Square, 0.5, 0.75)]
    [InlineData(MaskScheduleKind.Cubic, 0.5, 0.875)]
    public void Gamma_HandValues_Match(MaskScheduleKind kind, double ratio, double expected)
    {
        Assert.Equal(expected, MaskSchedule.Gamma(kind, ratio), 12);
    }

    [Theory]
    [InlineData(MaskScheduleKind.Cosine)]
    [InlineData(MaskScheduleKind.Linear)]
    [InlineData(MaskScheduleKind.Square)]
    [InlineData(MaskScheduleKind.Cubic)]
    public void Gamma_Ends_AreOneAndZero(MaskScheduleKind kind)
    {
        Assert.Equal(1.0, MaskSchedule.Gamma(kind, 0));
        Assert.Equal(0.0, MaskSchedule.Gamma(kind, 1));
    }

    [Fact]
    public void Ratio_StepsDone_IsFractionOfSteps()
    {
        var sut = new MaskSchedule(MaskScheduleKind.Cosine, 8);

        Assert.Equal(0.25, sut.Ratio(2));
        Assert.Equal(1.0, sut.Ratio(8));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(65)]
    public void Constructor_StepsOutOfRange_Throws(int steps)
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new MaskSchedule(MaskScheduleKind.Cosine, steps));
    }

    [Fact]
    public void MaskCount_StepsDoneBeyondSteps_Throws()
    {
        var sut = new MaskSchedule(MaskScheduleKind.Cosine, 8);

        Assert.Throws<ArgumentOutOfRangeException>(() => sut.MaskCount(9, 10));
    }

    [Fact]
    public void MaskCount_AnyKindStepsAndTokens_IsMonotoneAndInRange()
    {
        var kinds = Gen.Enum<MaskScheduleKind>();
        Gen.Select(kinds, Gen.Int[1, 64], Gen.Int[0, 5000]).Sample((kind, steps, tokens) =>
        {
            var sut = new MaskSchedule(kind, steps);
            Assert.Equal(tokens, sut.MaskCount(0, tokens));
            Assert.Equal(0, sut.MaskCount(steps, tokens));
            var previous = tokens;
            for (var t = 1; t < steps; t++)
            {
                var count = sut.MaskCount(t, tokens);
                if (tokens > 0)
                {
                    // At least one stays masked for the steps after, and each step fixes one while it can.
                    Assert.InRange(count, 1, Math.Max(1, previous - 1));
                    // aMUSEd's schedule counts in float32, as its scheduler does (AmusedSchedulerParityTests).
                    var scheduled = kind == MaskScheduleKind.AmusedCosine
                        ? (int)MathF.Floor(tokens * (float)sut.Gamma((float)t / steps))
                        : (int)Math.Floor(tokens * sut.Gamma((double)t / steps));
                    Assert.True(count <= Math.Max(1, scheduled));
                }

                previous = count;
            }
        }, iter: 300);
    }
}
