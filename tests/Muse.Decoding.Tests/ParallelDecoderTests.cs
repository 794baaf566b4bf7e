using Muse.Decoding;

namespace Muse.Decoding.Tests;

public sealed class ParallelDecoderTests
{
    private const int Codebook = 16;
    private const int Mask = Codebook;
    private static readonly DecodeOptions Options = new();     // 12 steps, cosine

    [Fact]
    public async Task DecodeAsync_FreshGrid_RunsExactlyStepsAndLeavesNoTokenMasked()
    {
        var states = new[] { TokenState.AllMasked(8, 8, Mask) };
        var replica = new FakeReplica([1], DecodeStage.Base, Codebook);
        var reported = new List<int>();

        await ParallelDecoder.DecodeAsync(replica, states, Options, DecodeStage.Base, [1], 0, Record(reported), CancellationToken.None);

        Assert.Equal(Enumerable.Range(0, 12), replica.Steps);
        Assert.Equal(Enumerable.Range(1, 12), reported);
        Assert.Equal(0, states[0].MaskedCount);
        Assert.All(states[0].Tokens, t => Assert.InRange(t, 0, Codebook - 1));
        Assert.Equal(states[0].Tokens, states[0].Prediction);
    }

    [Fact]
    public async Task DecodeAsync_Progress_MaskedCountsFollowCosineSchedule()
    {
        var states = new[] { TokenState.AllMasked(8, 8, Mask) };
        var masked = new List<int>();

        await ParallelDecoder.DecodeAsync(
            new FakeReplica([3], DecodeStage.Base, Codebook), states, Options, DecodeStage.Base, [3], 0,
            p =>
            {
                masked.Add(p.MaskedTokens);
                Assert.Equal(p.MaskedTokens, p.States[0].Tokens.Count(t => t == Mask));
                return ValueTask.CompletedTask;
            },
            CancellationToken.None);

        Assert.Equal([63, 61, 59, 55, 50, 45, 38, 32, 24, 16, 8, 0], masked);
    }

    [Fact]
    public async Task DecodeAsync_Loop_EqualsMaskGitStepsWrittenOutByHand()
    {
        var options = new DecodeOptions { Steps = 6, ChoiceTemperature = 1f, GuidanceScale = 2f };
        int[] maskCounts = [61, 55, 45, 32, 16, 0];     // N = 64: ⌊64·cos(π/2 · t/6)⌋, t = 1..6
        var decoded = new[] { TokenState.AllMasked(8, 8, Mask) };
        var byHand = TokenState.AllMasked(8, 8, Mask);
        var replica = new FakeReplica([9], DecodeStage.Base, Codebook);

        await ParallelDecoder.DecodeAsync(new FakeReplica([9], DecodeStage.Base, Codebook), decoded, options, DecodeStage.Base, [9], 0, null, CancellationToken.None);
        for (var step = 0; step < 6; step++)
        {
            var sampled = await replica.SampleAsync([byHand], step, 6, 2f, 1f, false, CancellationToken.None);
            byHand.Accept(sampled.TokensOf(0));
            // MaskGIT anneals the choice temperature with the ratio after this step: τ·(1 − (t+1)/T). τ = 1 keeps
            // noise and log-confidence comparable, so a wrong annealing changes the outcome.
            byHand.Remask(sampled.ConfidenceOf(0), maskCounts[step], 1.0 * (1 - ((step + 1) / 6.0)), 9, DecodeStage.Base, step);
        }

        Assert.Equal(byHand.Tokens, decoded[0].Tokens);
    }

    [Fact]
    public async Task DecodeAsync_ReplicaLostMidDecode_ResumesToSameTokensAsUninterruptedRun()
    {
        var uninterrupted = new[] { TokenState.AllMasked(8, 8, Mask), TokenState.AllMasked(8, 8, Mask) };
        ulong[] seeds = [21, 22];
        await ParallelDecoder.DecodeAsync(new FakeReplica(seeds, DecodeStage.Base, Codebook), uninterrupted, Options, DecodeStage.Base, seeds, 0, null, CancellationToken.None);
        var resumed = new[] { TokenState.AllMasked(8, 8, Mask), TokenState.AllMasked(8, 8, Mask) };
        var lastStep = new List<int>();

        await Assert.ThrowsAsync<IOException>(() => ParallelDecoder.DecodeAsync(
            new FakeReplica(seeds, DecodeStage.Base, Codebook, breakAtStep: 5), resumed, Options, DecodeStage.Base, seeds, 0, Record(lastStep), CancellationToken.None));
        var replacement = new FakeReplica(seeds, DecodeStage.Base, Codebook);
        await ParallelDecoder.DecodeAsync(replacement, resumed, Options, DecodeStage.Base, seeds, lastStep[^1], null, CancellationToken.None);

        Assert.Equal(5, lastStep[^1]);
        Assert.Equal(Enumerable.Range(5, 7), replacement.Steps);
        Assert.Equal(uninterrupted[0].Tokens, resumed[0].Tokens);
        Assert.Equal(uninterrupted[1].Tokens, resumed[1].Tokens);
        Assert.NotEqual(uninterrupted[0].Tokens, uninterrupted[1].Tokens);
    }

    [Fact]
    public async Task DecodeAsync_ResumedFromSnapshot_GivesSameTokens()
    {
        var states = new[] { TokenState.AllMasked(4, 8, Mask) };
        TokenState? snapshot = null;
        await ParallelDecoder.DecodeAsync(
            new FakeReplica([8], DecodeStage.SuperResolution, Codebook), states, Options, DecodeStage.SuperResolution, [8], 0,
            p =>
            {
                snapshot = p.Step == 3 ? p.States[0].Clone() : snapshot;
                return ValueTask.CompletedTask;
            },
            CancellationToken.None);

        await ParallelDecoder.DecodeAsync(new FakeReplica([8], DecodeStage.SuperResolution, Codebook), [snapshot!], Options, DecodeStage.SuperResolution, [8], 3, null, CancellationToken.None);

        Assert.Equal(states[0].Tokens, snapshot!.Tokens);
    }

    [Fact]
    public async Task DecodeAsync_SameSeedDifferentBatch_YieldsIdenticalTokens()
    {
        var alone = new[] { TokenState.AllMasked(8, 8, Mask) };
        var batch = new[] { TokenState.AllMasked(8, 8, Mask), TokenState.AllMasked(8, 8, Mask), TokenState.AllMasked(8, 8, Mask) };
        ulong[] batchSeeds = [100, 7, 200];

        await ParallelDecoder.DecodeAsync(new FakeReplica([7], DecodeStage.Base, Codebook), alone, Options, DecodeStage.Base, [7], 0, null, CancellationToken.None);
        await ParallelDecoder.DecodeAsync(new FakeReplica(batchSeeds, DecodeStage.Base, Codebook), batch, Options, DecodeStage.Base, batchSeeds, 0, null, CancellationToken.None);

        Assert.Equal(alone[0].Tokens, batch[1].Tokens);
        Assert.NotEqual(batch[0].Tokens, batch[1].Tokens);
    }

    [Fact]
    public async Task DecodeAsync_Editing_KnownTokensNeverChange()
    {
        var image = Enumerable.Range(0, 64).Select(i => (i * 5) % Codebook).ToArray();
        var edit = EditMasks.FromPixelMask(Enumerable.Range(0, 32 * 32).Select(i => (byte)(i % 32 < 12 ? 1 : 0)).ToArray(), 32, 32, 8, 8);
        var states = new[] { TokenState.ForEditing(8, 8, Mask, image, edit) };
        var knownSeen = new List<bool>();

        await ParallelDecoder.DecodeAsync(
            new FakeReplica([4], DecodeStage.Base, Codebook), states, Options, DecodeStage.Base, [4], 0,
            p =>
            {
                knownSeen.Add(Enumerable.Range(0, 64).Where(i => !edit[i]).All(i => p.States[0].Tokens[i] == image[i]));
                return ValueTask.CompletedTask;
            },
            CancellationToken.None);

        Assert.Equal(24, states[0].InitiallyMasked);        // 3 of 8 columns
        Assert.Equal(12, knownSeen.Count);
        Assert.DoesNotContain(false, knownSeen);
        Assert.Equal(0, states[0].MaskedCount);
        Assert.NotEqual(image, states[0].Tokens);
    }

    [Fact]
    public async Task DecodeAsync_LinearGuidanceSchedule_SendsRisingScales()
    {
        var options = new DecodeOptions { Steps = 5, GuidanceScale = 3f, GuidanceSchedule = GuidanceSchedule.Linear };
        var replica = new FakeReplica([1], DecodeStage.Base, Codebook);

        await ParallelDecoder.DecodeAsync(replica, [TokenState.AllMasked(4, 4, Mask)], options, DecodeStage.Base, [1], 0, null, CancellationToken.None);

        Assert.Equal([1f, 1.5f, 2f, 2.5f, 3f], replica.GuidanceScales);
    }

    [Fact]
    public async Task DecodeAsync_SingleStep_DecodesEverything()
    {
        var states = new[] { TokenState.AllMasked(4, 4, Mask) };

        await ParallelDecoder.DecodeAsync(new FakeReplica([1], DecodeStage.Base, Codebook), states, new DecodeOptions { Steps = 1 }, DecodeStage.Base, [1], 0, null, CancellationToken.None);

        Assert.Equal(0, states[0].MaskedCount);
    }

    [Fact]
    public async Task DecodeAsync_StateNotAtStartStep_Throws()
    {
        var states = new[] { TokenState.AllMasked(8, 8, Mask) };

        await Assert.ThrowsAsync<ArgumentException>(() => ParallelDecoder.DecodeAsync(
            new FakeReplica([1], DecodeStage.Base, Codebook), states, Options, DecodeStage.Base, [1], 4, null, CancellationToken.None));
    }

    [Fact]
    public async Task DecodeAsync_SamplerAnswersMaskToken_ThrowsAndLeavesWholeBatchUnchanged()
    {
        var states = new[] { TokenState.AllMasked(4, 4, Mask), TokenState.AllMasked(4, 4, Mask) };
        var replica = new FakeReplica([1, 2], DecodeStage.Base, Codebook) { Corrupt = t => [.. t[..^1], Mask] };

        await Assert.ThrowsAsync<ArgumentException>(() => ParallelDecoder.DecodeAsync(
            replica, states, Options, DecodeStage.Base, [1, 2], 0, null, CancellationToken.None));

        Assert.All(states, s => Assert.Equal(16, s.MaskedCount));
        Assert.All(states, s => Assert.All(s.Tokens, t => Assert.Equal(Mask, t)));
    }

    [Fact]
    public async Task DecodeAsync_CancelledAfterStep_StopsWithStateAtThatStep()
    {
        using var cts = new CancellationTokenSource();
        var states = new[] { TokenState.AllMasked(8, 8, Mask) };
        var replica = new FakeReplica([1], DecodeStage.Base, Codebook);

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => ParallelDecoder.DecodeAsync(
            replica, states, Options, DecodeStage.Base, [1], 0,
            async p =>
            {
                if (p.Step == 3)
                {
                    await cts.CancelAsync();
                }
            },
            cts.Token));

        Assert.Equal(3, replica.Steps.Count);
        Assert.Equal(59, states[0].MaskedCount);
    }

    private static Func<StepProgress, ValueTask> Record(List<int> steps) => p =>
    {
        steps.Add(p.Step);
        return ValueTask.CompletedTask;
    };
}
