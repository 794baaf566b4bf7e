using System.Numerics;

namespace Muse.Decoding;

/// <summary>
/// Classifier-free guidance (Muse §2.6): the replica runs the transformer on the prompt (conditional) and on
/// the negative or empty prompt (unconditional) and samples from <c>u + s · (c − u)</c>. Stateless and thread-safe.
/// </summary>
public static class Guidance
{
    /// <summary>
    /// Whether the scale needs the unconditional pass at all: at s = 1 the mix is the conditional logits, so the
    /// replica skips the second forward pass.
    /// </summary>
    public static bool NeedsUnconditional(float scale) => scale != 1f;

    /// <summary>
    /// Writes <c>mixed = unconditional + scale · (conditional − unconditional)</c> element-wise. At scale 1 it
    /// copies <paramref name="conditional"/> exactly and <paramref name="unconditional"/> may be empty; at scale
    /// 0 it copies <paramref name="unconditional"/> exactly. <paramref name="mixed"/> may alias either input.
    /// </summary>
    /// <param name="conditional">[N, K] logits given the prompt.</param>
    /// <param name="unconditional">[N, K] logits given the negative or empty prompt.</param>
    /// <param name="scale">Guidance scale s: 1 = no guidance, larger = closer to the prompt, 0 = unconditional.</param>
    /// <param name="mixed">[N, K] out.</param>
    public static void Mix(ReadOnlySpan<float> conditional, ReadOnlySpan<float> unconditional, float scale, Span<float> mixed)
    {
        if (mixed.Length != conditional.Length)
        {
            throw new ArgumentException($"Expected {conditional.Length} outputs, got {mixed.Length}.", nameof(mixed));
        }

        if (!NeedsUnconditional(scale))
        {
            // u + 1·(c − u) is not always c in floating point; the early exit is also the exact answer.
            conditional.CopyTo(mixed);
            return;
        }

        if (unconditional.Length != conditional.Length)
        {
            throw new ArgumentException($"Expected {conditional.Length} unconditional logits, got {unconditional.Length}.", nameof(unconditional));
        }

        if (scale == 0f)
        {
            unconditional.CopyTo(mixed);
            return;
        }

        var i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var s = new Vector<float>(scale);
            for (; i <= conditional.Length - Vector<float>.Count; i += Vector<float>.Count)
            {
                var c = new Vector<float>(conditional.Slice(i));
                var u = new Vector<float>(unconditional.Slice(i));
                (u + (s * (c - u))).CopyTo(mixed.Slice(i));
            }
        }

        for (; i < conditional.Length; i++)
        {
            mixed[i] = unconditional[i] + (scale * (conditional[i] - unconditional[i]));
        }
    }
}

/// <summary>How the guidance scale s varies over the steps t = 0..T−1 (proto <c>muse.v1.GuidanceSchedule</c>).</summary>
public enum GuidanceSchedule
{
    /// <summary>s at every step. The default.</summary>
    Constant = 0,

    /// <summary>Rises linearly from 1 at the first step to s at the last: weak guidance while the layout forms.</summary>
    Linear = 1,
}

/// <summary>Evaluation of a <see cref="GuidanceSchedule"/>.</summary>
public static class GuidanceScheduleExtensions
{
    /// <summary>The guidance scale to use at 0-based step <paramref name="step"/> of <paramref name="steps"/>.</summary>
    /// <param name="schedule">The schedule.</param>
    /// <param name="scale">The request's guidance scale s.</param>
    /// <param name="step">Step t, 0 to <paramref name="steps"/> − 1.</param>
    /// <param name="steps">Total steps T ≥ 1. With one step, Linear gives s.</param>
    public static float ScaleAt(this GuidanceSchedule schedule, float scale, int step, int steps)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(steps, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(step);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(step, steps);
        return schedule switch
        {
            GuidanceSchedule.Constant => scale,
            // The last step (also the only one when T = 1) gets exactly s, free of rounding.
            GuidanceSchedule.Linear when step == steps - 1 => scale,
            GuidanceSchedule.Linear => 1f + ((scale - 1f) * step / (steps - 1)),
            _ => throw new ArgumentOutOfRangeException(nameof(schedule), schedule, "Unknown guidance schedule."),
        };
    }
}
