namespace Muse.Decoding;

/// <summary>
/// MaskGIT's iterative parallel decoding (Chang et al. 2022, Alg. 1; Muse §2.8): at each step the transformer
/// samples every masked token at once, the sampled tokens are accepted, and the least confident of them are
/// masked again, fewer at every step along the mask schedule, until none is left. With
/// <see cref="DecodeOptions.Recompete"/> the tokens committed in earlier steps are scored again at every step and
/// ranked with the new ones, so the least confident of all of them are masked.
/// </summary>
public static class ParallelDecoder
{
    /// <summary>
    /// Runs steps <paramref name="startStep"/> to T − 1 on a batch, in place. Resumable: after a failure the states
    /// are exactly as the last completed step left them (a step changes no state until its samples have
    /// arrived for the whole batch), so decoding continues with a new sampler at the step the last
    /// <see cref="StepProgress.Step"/> reported (or the same <paramref name="startStep"/>) and gives the same tokens.
    /// </summary>
    /// <param name="sampler">The transformer replica (its stream's conditioning matches this batch).</param>
    /// <param name="states">One state per image, at step <paramref name="startStep"/>; modified in place.</param>
    /// <param name="options">Steps, schedules and temperatures; validated here.</param>
    /// <param name="stage">The decoding stage (part of the noise identity).</param>
    /// <param name="seeds">[batch] one seed per image, the same the sampler's conditioning carries.</param>
    /// <param name="startStep">Steps already done, 0 to T.</param>
    /// <param name="onStep">Awaited after every step, e.g. to stream progress and previews. Optional.</param>
    /// <param name="ct">Cancels between and during steps.</param>
    /// <exception cref="ArgumentException">A state does not hold the masked count the schedule gives at <paramref name="startStep"/>.</exception>
    public static async Task DecodeAsync(
        ITokenSampler sampler,
        IReadOnlyList<TokenState> states,
        DecodeOptions options,
        DecodeStage stage,
        IReadOnlyList<ulong> seeds,
        int startStep,
        Func<StepProgress, ValueTask>? onStep,
        CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(sampler);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var schedule = options.CreateSchedule();
        CheckBatch(states, seeds, schedule, startStep);

        for (var step = startStep; step < schedule.Steps; step++)
        {
            ct.ThrowIfCancellationRequested();
            var guidanceScale = options.GuidanceSchedule.ScaleAt(options.GuidanceScale, step, schedule.Steps);
            var sampled = await sampler.SampleAsync(states, step, schedule.Steps, guidanceScale, options.SamplingTemperature, options.Recompete, ct);
            CheckSampled(sampled, states, options.Recompete);

            // Noise in the choice is annealed away: exploration early, pure confidence at the end.
            var choiceTemperature = options.ChoiceTemperatureAt(step, schedule);
            for (var i = 0; i < states.Count; i++)
            {
                states[i].Accept(sampled.TokensOf(i));                                  // known tokens never change
                var maskCount = schedule.MaskCount(step + 1, states[i].InitiallyMasked); // read at t+1: none after the last step
                states[i].Remask(sampled.ConfidenceOf(i), maskCount, choiceTemperature, seeds[i], stage, step, options.Recompete);
            }

            if (onStep is not null)
            {
                await onStep(new StepProgress(stage, step + 1, schedule.Steps, states.Sum(s => s.MaskedCount), states.Sum(s => s.Length), states));
            }
        }
    }

    private static void CheckBatch(IReadOnlyList<TokenState> states, IReadOnlyList<ulong> seeds, MaskSchedule schedule, int startStep)
    {
        ArgumentNullException.ThrowIfNull(states);
        ArgumentNullException.ThrowIfNull(seeds);
        if (states.Count == 0 || seeds.Count != states.Count)
        {
            throw new ArgumentException($"Need one seed per image and at least one image; got {states.Count} states and {seeds.Count} seeds.", nameof(seeds));
        }

        ArgumentOutOfRangeException.ThrowIfNegative(startStep);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(startStep, schedule.Steps);
        for (var i = 0; i < states.Count; i++)
        {
            var expected = schedule.MaskCount(startStep, states[i].InitiallyMasked);
            if (states[i].MaskedCount != expected)
            {
                throw new ArgumentException(
                    $"Image {i} has {states[i].MaskedCount} masked tokens; step {startStep} of the schedule expects {expected}.",
                    nameof(states));
            }
        }
    }

    private static void CheckSampled(SampledTokens sampled, IReadOnlyList<TokenState> states, bool recompete)
    {
        if (sampled is null || sampled.Batch != states.Count)
        {
            throw new InvalidOperationException($"The sampler answered for {sampled?.Batch} images instead of {states.Count}.");
        }

        // Everything is checked before any state changes, so a bad answer leaves the batch resumable.
        for (var i = 0; i < states.Count; i++)
        {
            if (states[i].Length != sampled.Length)
            {
                throw new InvalidOperationException($"The sampler answered {sampled.Length} tokens per image instead of {states[i].Length}.");
            }

            states[i].CheckSample(sampled.TokensOf(i), sampled.ConfidenceOf(i), recompete);
        }
    }
}
