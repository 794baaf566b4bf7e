using Muse.Decoding;

namespace Muse.Training.Stages;

/// <summary>MaskGIT/Muse training masks: ratio r = cos(π/2 · u), u ~ U(0, 1); ⌈r·N⌉ (at least 1) positions masked.</summary>
internal static class Masking
{
    /// <summary>The cosine MaskSchedule γ(u) = cos(π u / 2).</summary>
    public static double MaskSchedule(double u) => Math.Cos(Math.PI / 2 * u);

    /// <summary>
    /// Masked flags [N] of sample <paramref name="sample"/> at <paramref name="step"/>: the ⌈r·N⌉ positions with
    /// the smallest counter-RNG scores. A pure function of (seed, stage, step, sample).
    /// </summary>
    public static bool[] Draw(ulong seed, ulong stage, long step, int sample, int n, double? fixedRatio = null)
    {
        var u = CounterRng.Uniform(seed, stage, (ulong)step, (ulong)sample, (ulong)RngPurpose.EditMask);
        var ratio = fixedRatio ?? MaskSchedule(u);
        var count = Math.Clamp((int)Math.Ceiling(ratio * n), 1, n);
        var scores = new double[n];
        for (var i = 0; i < n; i++)
        {
            scores[i] = CounterRng.Uniform(seed, stage, (ulong)step, (ulong)((sample * n) + i + 1_000_000), (ulong)RngPurpose.EditMask);
        }

        var order = Enumerable.Range(0, n).OrderBy(i => scores[i]).ToArray();
        var masked = new bool[n];
        for (var i = 0; i < count; i++)
        {
            masked[order[i]] = true;
        }

        return masked;
    }
}
