using Muse.Decoding;

namespace Muse.Decoding.Tests;

/// <summary>Re-competition (<see cref="DecodeOptions.Recompete"/>): committed tokens are scored again and ranked with the new ones.</summary>
public sealed class RecompeteTests
{
    private const int Codebook = 16;
    private const int Mask = Codebook;

    [Theory]
    [InlineData(2f, 0.5)]
    [InlineData(0f, 1.0)]     // greedy: scored by the plain softmax, as a greedy sample is
    public void SampleInto_CommittedConfidence_IsTheCommittedTokensProbabilityUnderTheSamplingDistribution(float temperature, double inverse)
    {
        float[] logits = [1f, 3f, -1f, 0.5f, 0.2f, 2f];    // [N = 2, K = 3]
        int[] tokens = [1, Codebook];
        var (onTokens, onConfidence) = (new int[2], new float[2]);
        var (offTokens, offConfidence) = (new int[2], new float[2]);

        Sampler.SampleInto(logits, tokens, Codebook, temperature, 5, DecodeStage.Base, 3, onTokens, onConfidence, committedConfidence: true);
        Sampler.SampleInto(logits, tokens, Codebook, temperature, 5, DecodeStage.Base, 3, offTokens, offConfidence);

        var expected = Math.Exp(3 * inverse) / (Math.Exp(1 * inverse) + Math.Exp(3 * inverse) + Math.Exp(-1 * inverse));
        Assert.Equal((float)expected, onConfidence[0], 6);
        Assert.True(onConfidence[0] < 1f);
        Assert.Equal(1f, offConfidence[0]);
        // The masked position is sampled and scored exactly as without it.
        Assert.Equal(offTokens, onTokens);
        Assert.Equal(offConfidence[1], onConfidence[1]);
    }

    [Fact]
    public void SampleInto_CommittedTokenOutsideTheCodebook_ArgumentException()
    {
        float[] logits = [1f, 3f, -1f];   // K = 3
        var error = Assert.Throws<ArgumentException>(() =>
            Sampler.SampleInto(logits, [7], Codebook, 1f, 5, DecodeStage.Base, 0, new int[1], new float[1], committedConfidence: true));

        Assert.Contains("outside the codebook", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Remask_Recompete_MasksAnUnlikelyCommittedTokenButNeverAKnownOne()
    {
        // Position 0 was committed earlier, 1 and 2 are masked, 3 is kept by the user.
        TokenState State() => new(1, 4, Mask, [5, Mask, Mask, 7], known: [false, false, false, true], initiallyMasked: 3);
        float[] confidence = [0.01f, 0.9f, 0.8f, 0.0001f];
        var recompeting = State();
        var classic = State();

        recompeting.Accept([5, 1, 2, 7]);
        recompeting.Remask(confidence, 1, 0, 1, DecodeStage.Base, 1, recompete: true);
        classic.Accept([5, 1, 2, 7]);
        classic.Remask(confidence, 1, 0, 1, DecodeStage.Base, 1);

        Assert.Equal([Mask, 1, 2, 7], recompeting.Tokens);
        Assert.Equal(5, recompeting.Prediction[0]);      // the preview keeps the token it had
        Assert.Equal([5, 1, Mask, 7], classic.Tokens);
    }

    [Fact]
    public void CheckSample_Recompete_RequiresAProbabilityAtCommittedPositions()
    {
        var sut = new TokenState(1, 3, Mask, [5, Mask, 7], known: [false, false, true], initiallyMasked: 2);

        sut.CheckSample([5, 1, 7], [float.NaN, 0.5f, float.NaN]);    // committed positions are not read
        Assert.Throws<ArgumentException>(() => sut.CheckSample([5, 1, 7], [float.NaN, 0.5f, 1f], recompete: true));
        sut.CheckSample([5, 1, 7], [0.3f, 0.5f, float.NaN], recompete: true);   // the user's token is never scored
    }

    [Fact]
    public async Task DecodeAsync_Recompete_RemasksCommittedTokensDeterministicallyAndPerImage()
    {
        var options = new DecodeOptions { Steps = 8, Recompete = true };
        ulong[] seeds = [3, 41, 977];

        var (batch, remasked) = await DecodeAsync(options, seeds);
        var again = (await DecodeAsync(options, seeds)).States;
        var classic = (await DecodeAsync(options with { Recompete = false }, seeds)).States;

        Assert.True(remasked > 0, "No committed token was masked again.");
        Assert.Equal(batch.Select(s => s.Tokens), again.Select(s => s.Tokens));
        Assert.All(batch, s => Assert.Equal(0, s.MaskedCount));
        for (var i = 0; i < seeds.Length; i++)
        {
            var alone = (await DecodeAsync(options, [seeds[i]])).States[0];
            Assert.Equal(alone.Tokens, batch[i].Tokens);
        }

        Assert.NotEqual(classic.Select(s => s.Tokens), batch.Select(s => s.Tokens));
    }

    [Fact]
    public async Task DecodeAsync_RecompeteOnAnEdit_KeepsEveryKnownTokenAtEveryStep()
    {
        var original = Enumerable.Range(0, 64).Select(i => (i * 5) % Codebook).ToArray();
        var editMask = Enumerable.Range(0, 64).Select(i => i % 8 < 4).ToArray();    // the left half is regenerated
        var state = TokenState.ForEditing(8, 8, Mask, original, editMask);
        var options = new DecodeOptions { Steps = 6, Recompete = true };
        ulong[] seeds = [17];
        var replica = new FakeReplica(seeds, DecodeStage.Base, Codebook);

        await ParallelDecoder.DecodeAsync(replica, [state], options, DecodeStage.Base, seeds, 0, progress =>
        {
            for (var i = 0; i < 64; i++)
            {
                if (!editMask[i])
                {
                    Assert.Equal(original[i], progress.States[0].Tokens[i]);
                }
            }

            return ValueTask.CompletedTask;
        }, CancellationToken.None);

        Assert.Equal(0, state.MaskedCount);
    }

    // Decodes fresh grids; counts the positions that held a token after one step and the mask after the next.
    private static async Task<(TokenState[] States, int Remasked)> DecodeAsync(DecodeOptions options, ulong[] seeds)
    {
        var states = seeds.Select(_ => TokenState.AllMasked(8, 8, Mask)).ToArray();
        var previous = states.Select(s => s.Tokens.ToArray()).ToArray();
        var remasked = 0;
        await ParallelDecoder.DecodeAsync(new FakeReplica(seeds, DecodeStage.Base, Codebook), states, options, DecodeStage.Base, seeds, 0, progress =>
        {
            for (var b = 0; b < states.Length; b++)
            {
                var tokens = progress.States[b].Tokens;
                remasked += tokens.Where((t, i) => t == Mask && previous[b][i] != Mask).Count();
                previous[b] = tokens.ToArray();
            }

            return ValueTask.CompletedTask;
        }, CancellationToken.None);
        return (states, remasked);
    }
}
