using CsCheck;
using Muse.Decoding;

namespace Muse.Decoding.Tests;

public sealed class GuidanceTests
{
    [Fact]
    public void Mix_ScaleThree_ExtrapolatesAwayFromUnconditional()
    {
        float[] conditional = [2f, 0f, -1f];
        float[] unconditional = [1f, 1f, 1f];
        var mixed = new float[3];

        Guidance.Mix(conditional, unconditional, 3f, mixed);

        // u + 3·(c − u): 1 + 3·1, 1 + 3·(−1), 1 + 3·(−2)
        Assert.Equal([4f, -2f, -5f], mixed);
    }

    [Fact]
    public void Mix_ScaleOne_IsConditionalExactlyWithoutUnconditional()
    {
        float[] conditional = [0.1f, 1e30f, -7.3f];
        var mixed = new float[3];

        Guidance.Mix(conditional, ReadOnlySpan<float>.Empty, 1f, mixed);

        Assert.Equal(conditional, mixed);
    }

    [Fact]
    public void Mix_ScaleZero_IsUnconditional()
    {
        float[] conditional = [5f, 6f];
        float[] unconditional = [0.3f, -0.3f];
        var mixed = new float[2];

        Guidance.Mix(conditional, unconditional, 0f, mixed);

        Assert.Equal(unconditional, mixed);
    }

    [Theory]
    [InlineData(1f, false)]
    [InlineData(3f, true)]
    [InlineData(0f, true)]
    public void NeedsUnconditional_Scale_OnlyWhenNotOne(float scale, bool expected)
    {
        Assert.Equal(expected, Guidance.NeedsUnconditional(scale));
    }

    [Fact]
    public void Mix_AnyLengthAndScale_MatchesFormulaElementwise()
    {
        // Lengths around the vector width exercise both the vector body and the scalar tail.
        Gen.Select(Gen.Int[0, 70], Gen.Float[0f, 10f]).Sample((length, scale) =>
        {
            var conditional = Enumerable.Range(0, length).Select(i => MathF.Sin(i)).ToArray();
            var unconditional = Enumerable.Range(0, length).Select(i => MathF.Cos(i * 3)).ToArray();
            var mixed = new float[length];

            Guidance.Mix(conditional, unconditional, scale, mixed);

            for (var i = 0; i < length; i++)
            {
                var expected = unconditional[i] + (scale * (conditional[i] - unconditional[i]));
                Assert.Equal(expected, mixed[i], 5);
            }
        }, iter: 200);
    }

    [Fact]
    public void ScaleAt_Linear_RisesFromOneToScale()
    {
        var actual = Enumerable.Range(0, 5).Select(t => GuidanceSchedule.Linear.ScaleAt(3f, t, 5)).ToArray();

        Assert.Equal([1f, 1.5f, 2f, 2.5f, 3f], actual);
    }

    [Fact]
    public void ScaleAt_LinearSingleStep_IsScale()
    {
        Assert.Equal(3f, GuidanceSchedule.Linear.ScaleAt(3f, 0, 1));
    }

    [Fact]
    public void ScaleAt_Constant_IsScaleAtEveryStep()
    {
        Assert.All(Enumerable.Range(0, 12), t => Assert.Equal(4.5f, GuidanceSchedule.Constant.ScaleAt(4.5f, t, 12)));
    }

    [Fact]
    public void ScaleAt_StepOutOfRange_Throws()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => GuidanceSchedule.Linear.ScaleAt(3f, 5, 5));
    }
}
