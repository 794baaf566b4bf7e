using CsCheck;
using Muse.Decoding;

namespace Muse.Decoding.Tests;

public sealed class SamplerTests
{
    private const int Mask = 4;     // codebook of K = 4, mask token id = K

    [Fact]
    public void SampleInto_ZeroTemperature_PicksArgMaxLowestIndexOnTies()
    {
        float[] logits = [1f, 3f, 3f, 0f];      // [1, 4]
        var sampled = new int[1];
        var confidence = new float[1];

        Sampler.SampleInto(logits, [Mask], Mask, 0f, 7, DecodeStage.Base, 0, sampled, confidence);

        Assert.Equal(1, sampled[0]);
    }

    [Fact]
    public void SampleInto_ZeroTemperature_ConfidenceIsSoftmaxOfTheArgMax()
    {
        // softmax([0, ln 3]) = [0.25, 0.75]: greedy keeps the model's confidence, not a degenerate 1.
        float[] logits = [0f, MathF.Log(3f)];
        var sampled = new int[1];
        var confidence = new float[1];

        Sampler.SampleInto(logits, [Mask], Mask, 0f, 7, DecodeStage.Base, 0, sampled, confidence);

        Assert.Equal(1, sampled[0]);
        Assert.Equal(0.75f, confidence[0], 6);
    }

    [Fact]
    public void SampleInto_OneHotLikeLogits_AlwaysPicksThatToken()
    {
        float[] logits = [0f, 0f, 60f, 0f];     // p(2) = 1 − 3e−26
        var sampled = new int[1];
        var confidence = new float[1];

        for (ulong seed = 0; seed < 500; seed++)
        {
            Sampler.SampleInto(logits, [Mask], Mask, 1f, seed, DecodeStage.Base, 3, sampled, confidence);

            Assert.Equal(2, sampled[0]);
            Assert.Equal(1f, confidence[0]);
        }
    }

    [Theory]
    [InlineData(1f, 0.25)]      // softmax([0, ln 3]) = [1/4, 3/4]
    [InlineData(0.5f, 0.1)]     // softmax([0, 2 ln 3]) = [1/10, 9/10]
    [InlineData(2f, 0.3660254)] // softmax([0, ln 3 / 2]) = [1/(1+√3), √3/(1+√3)]
    public void SampleInto_TwoTokens_MatchesInverseCdfByHand(float temperature, double probabilityOfFirst)
    {
        float[] logits = [0f, MathF.Log(3f), 0f, MathF.Log(3f)];   // [2 positions, 2 tokens]
        int[] tokens = [Mask, Mask];
        var sampled = new int[2];
        var confidence = new float[2];
        var seen = new HashSet<int>();

        for (ulong seed = 0; seed < 200; seed++)
        {
            Sampler.SampleInto(logits, tokens, Mask, temperature, seed, DecodeStage.SuperResolution, 5, sampled, confidence);

            for (var position = 0; position < 2; position++)
            {
                var u = CounterRng.Uniform(seed, DecodeStage.SuperResolution, 5, position, RngPurpose.Sample);
                var expected = u < probabilityOfFirst ? 0 : 1;
                Assert.Equal(expected, sampled[position]);
                Assert.Equal(expected == 0 ? probabilityOfFirst : 1 - probabilityOfFirst, confidence[position], 5);
                seen.Add(sampled[position]);
            }
        }

        Assert.Equal(2, seen.Count);    // both branches of the CDF were exercised
    }

    [Fact]
    public void SampleInto_UnmaskedPositions_KeepTokenWithConfidenceOne()
    {
        float[] logits = [float.NaN, 0f, 0f, 0f, 60f, 0f, 0f, 0f];     // [2, 4]; logits of a fixed token are not read
        int[] tokens = [3, Mask];
        var sampled = new int[2];
        var confidence = new float[2];

        Sampler.SampleInto(logits, tokens, Mask, 1f, 1, DecodeStage.Base, 0, sampled, confidence);

        Assert.Equal(3, sampled[0]);
        Assert.Equal(1f, confidence[0]);
        Assert.Equal(0, sampled[1]);
    }

    [Fact]
    public void SampleInto_NonFiniteLogitsAtMaskedPosition_Throws()
    {
        float[] logits = [0f, float.NaN, 1f, 2f];

        Assert.Throws<ArgumentException>(() =>
            Sampler.SampleInto(logits, [Mask], Mask, 1f, 1, DecodeStage.Base, 0, new int[1], new float[1]));
    }

    [Fact]
    public void SampleInto_NegativeInfinityLogits_NeverSampled()
    {
        float[] logits = [float.NegativeInfinity, 0f, float.NegativeInfinity, 0f];
        var sampled = new int[1];
        var confidence = new float[1];

        for (ulong seed = 0; seed < 200; seed++)
        {
            Sampler.SampleInto(logits, [Mask], Mask, 1f, seed, DecodeStage.Base, 0, sampled, confidence);

            Assert.Contains(sampled[0], new[] { 1, 3 });
            Assert.Equal(0.5f, confidence[0]);
        }
    }

    [Fact]
    public void SampleBatchInto_Batch_EqualsOneImageAtATime()
    {
        var logits = Enumerable.Range(0, 3 * 5 * Mask).Select(i => MathF.Sin(i * 0.7f) * 3).ToArray();   // [3, 5, 4]
        var tokens = Enumerable.Range(0, 15).Select(i => i % 3 == 0 ? i % Mask : Mask).ToArray();        // [3, 5]
        ulong[] seeds = [11, 12, 13];
        var batchTokens = new int[15];
        var batchConfidence = new float[15];

        Sampler.SampleBatchInto(logits, tokens, Mask, 1f, seeds, DecodeStage.Base, 2, batchTokens, batchConfidence);

        for (var b = 0; b < 3; b++)
        {
            var oneTokens = new int[5];
            var oneConfidence = new float[5];
            Sampler.SampleInto(logits.AsSpan(b * 20, 20), tokens.AsSpan(b * 5, 5), Mask, 1f, seeds[b], DecodeStage.Base, 2, oneTokens, oneConfidence);
            Assert.Equal(oneTokens, batchTokens.AsSpan(b * 5, 5).ToArray());
            Assert.Equal(oneConfidence, batchConfidence.AsSpan(b * 5, 5).ToArray());
        }
    }

    [Fact]
    public void SampleInto_AnyLogits_GivesCodebookTokenAndMatchingProbability()
    {
        const int codebook = 16;
        Gen.Select(Gen.Float[-30f, 30f].Array[codebook], Gen.Float[0f, 5f], Gen.ULong).Sample((logits, temperature, seed) =>
        {
            var sampled = new int[1];
            var confidence = new float[1];

            Sampler.SampleInto(logits, [codebook], codebook, temperature, seed, DecodeStage.Base, 1, sampled, confidence);

            Assert.InRange(sampled[0], 0, codebook - 1);
            var t = temperature == 0 ? 1.0 : temperature;
            var max = logits.Max();
            var expected = Math.Exp((logits[sampled[0]] - max) / t) / logits.Sum(l => Math.Exp((l - max) / t));
            Assert.Equal(expected, confidence[0], 1e-6);
        }, iter: 300);
    }
}
