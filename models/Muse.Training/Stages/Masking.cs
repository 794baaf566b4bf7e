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

    /// <summary>
    /// Corrupted flags and codes [N] of sample <paramref name="sample"/> at <paramref name="step"/>: each visible
    /// (unmasked) position is replaced, with probability <paramref name="share"/>, by a code drawn uniformly from
    /// the other K − 1 codes of <paramref name="truth"/>'s codebook; −1 where a position keeps its token. A pure
    /// function of (seed, stage, step, sample), like <see cref="Draw"/>.
    /// </summary>
    public static long[] Corrupt(ulong seed, ulong stage, long step, int sample, bool[] masked, long[] truth, int codebookSize, double share)
    {
        var codes = new long[masked.Length];
        Array.Fill(codes, -1L);
        if (share <= 0)
        {
            return codes;
        }

        for (var i = 0; i < masked.Length; i++)
        {
            var counter = (ulong)((sample * masked.Length) + i + 2_000_000);
            if (masked[i] || CounterRng.Uniform(seed, stage, (ulong)step, counter, (ulong)RngPurpose.EditMask) >= share)
            {
                continue;
            }

            // Any code but the true one: a corruption the transformer has to notice.
            var offset = 1 + (long)(CounterRng.Hash(seed, stage, (ulong)step, counter, (ulong)RngPurpose.Sample) % (ulong)(codebookSize - 1));
            codes[i] = (truth[i] + offset) % codebookSize;
        }

        return codes;
    }

    /// <summary>
    /// The grid positions (row-major indices into the <paramref name="height"/>×<paramref name="width"/> grid) of a
    /// random <paramref name="crop"/>×<paramref name="crop"/> window for sample <paramref name="sample"/> at
    /// <paramref name="step"/>, in row-major order: SR training on crops of a large grid. A pure function of
    /// (seed, stage, step, sample).
    /// </summary>
    public static long[] Window(ulong seed, ulong stage, long step, int sample, int height, int width, int crop)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(crop, Math.Min(height, width));
        var h = CounterRng.Hash(seed, stage, (ulong)step, (ulong)(5000 + sample), (ulong)RngPurpose.Data);
        var (top, left) = ((int)(h % (ulong)(height - crop + 1)), (int)((h >> 20) % (ulong)(width - crop + 1)));
        var positions = new long[crop * crop];
        for (var i = 0; i < positions.Length; i++)
        {
            positions[i] = ((top + (i / crop)) * width) + left + (i % crop);
        }

        return positions;
    }
}
