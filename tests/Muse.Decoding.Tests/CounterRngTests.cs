using Muse.Decoding;

namespace Muse.Decoding.Tests;

public sealed class CounterRngTests
{
    [Fact]
    public void Uniform_SameCoordinates_ReturnsSameValue()
    {
        var first = CounterRng.Uniform(42, DecodeStage.Base, 3, 17, RngPurpose.Sample);

        var second = CounterRng.Uniform(42, DecodeStage.Base, 3, 17, RngPurpose.Sample);

        Assert.Equal(first, second);
    }

    [Theory]
    [InlineData(1UL, 0UL, 0UL, 0UL, 0UL)]
    [InlineData(0UL, 1UL, 0UL, 0UL, 0UL)]
    [InlineData(0UL, 0UL, 1UL, 0UL, 0UL)]
    [InlineData(0UL, 0UL, 0UL, 1UL, 0UL)]
    [InlineData(0UL, 0UL, 0UL, 0UL, 1UL)]
    public void Hash_OneCoordinateChanged_ChangesValue(ulong seed, ulong stage, ulong step, ulong position, ulong purpose)
    {
        var origin = CounterRng.Hash(7, 1, 2, 3, 1);

        var moved = CounterRng.Hash(7 + seed, 1 + stage, 2 + step, 3 + position, 1 + purpose);

        Assert.NotEqual(origin, moved);
    }

    [Fact]
    public void Hash_CoordinatesSwapped_ChangesValue()
    {
        // A symmetric fold (e.g. XOR of all coordinates) would give the same value.
        var a = CounterRng.Hash(0, 0, 5, 9, 1);

        var b = CounterRng.Hash(0, 0, 9, 5, 1);

        Assert.NotEqual(a, b);
    }

    [Fact]
    public void Uniform_NeighbouringPositions_AllDistinct()
    {
        var values = new HashSet<double>();

        for (var position = 0; position < 10_000; position++)
        {
            values.Add(CounterRng.Uniform(0, DecodeStage.Base, 0, position, RngPurpose.Sample));
        }

        Assert.Equal(10_000, values.Count);
    }

    [Fact]
    public void Uniform_100kDraws_InOpenUnitIntervalWithUniformMoments()
    {
        const int draws = 100_000;
        var sum = 0.0;
        var sumOfSquares = 0.0;
        var below = new int[10];
        var outside = 0;

        for (var i = 0; i < draws; i++)
        {
            var u = CounterRng.Uniform(123, DecodeStage.SuperResolution, i % 64, i / 64, RngPurpose.Remask);
            outside += u is > 0 and < 1 ? 0 : 1;
            sum += u;
            sumOfSquares += u * u;
            below[(int)(u * 10)]++;
        }

        Assert.Equal(0, outside);
        var mean = sum / draws;
        var variance = (sumOfSquares / draws) - (mean * mean);
        // Standard error of the mean is 0.0009 and of the variance about 0.0002 at this size.
        Assert.InRange(mean, 0.495, 0.505);
        Assert.InRange(variance, (1.0 / 12) - 0.002, (1.0 / 12) + 0.002);
        // Each decile holds 10 000 ± 95 (one sigma); allow about five sigma.
        Assert.All(below, count => Assert.InRange(count, 9_500, 10_500));
    }

    [Fact]
    public void Gumbel_100kDraws_HasEulerMascheroniMean()
    {
        const int draws = 100_000;
        var sum = 0.0;

        for (var i = 0; i < draws; i++)
        {
            sum += CounterRng.Gumbel(5, DecodeStage.Base, 0, i, RngPurpose.Remask);
        }

        // Standard Gumbel: mean γ ≈ 0.5772, standard deviation π/√6 ≈ 1.28, so the mean's error is ≈ 0.004.
        Assert.InRange(sum / draws, 0.5772 - 0.02, 0.5772 + 0.02);
    }

    [Fact]
    public void ImageSeed_FirstImage_KeepsRequestSeed()
    {
        Assert.Equal(99UL, CounterRng.ImageSeed(99, 0));
        Assert.NotEqual(99UL, CounterRng.ImageSeed(99, 1));
        Assert.NotEqual(CounterRng.ImageSeed(99, 1), CounterRng.ImageSeed(99, 2));
    }
}
