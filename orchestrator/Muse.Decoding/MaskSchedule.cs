namespace Muse.Decoding;

/// <summary>
/// The mask scheduling function γ(r) of MaskGIT: the fraction of the initially masked tokens that is
/// still masked after a fraction r = t/T of the steps. Every γ falls from 1 at r = 0 to 0 at r = 1.
/// </summary>
public enum MaskScheduleKind
{
    /// <summary>γ(r) = cos(π/2 · r), the default of MaskGIT and Muse: few tokens are fixed early, many late.</summary>
    Cosine = 0,

    /// <summary>γ(r) = 1 − r: the same number of tokens is fixed at every step.</summary>
    Linear = 1,

    /// <summary>γ(r) = 1 − r²: concave like cosine, a little more tokens early.</summary>
    Square = 2,

    /// <summary>γ(r) = 1 − r³: more concave still.</summary>
    Cubic = 3,

    /// <summary>
    /// γ(r) = cos(π/2 · r) evaluated in float32 as aMUSEd's scheduler does (ratio, angle, cosine and N·γ all in
    /// float32, then floored): where the exact count is an integer (γ = ½ at r = ⅔) float32 lands one below it.
    /// </summary>
    AmusedCosine = 4,
}

/// <summary>
/// How many tokens stay masked after each of the <see cref="Steps"/> steps of parallel decoding.
/// Immutable and thread-safe.
/// </summary>
public sealed class MaskSchedule
{
    /// <summary>The most steps a schedule (and a request) may have.</summary>
    public const int MaxSteps = 64;

    /// <summary>Creates the schedule of <paramref name="kind"/> over <paramref name="steps"/> steps (1 to <see cref="MaxSteps"/>).</summary>
    public MaskSchedule(MaskScheduleKind kind, int steps)
    {
        if (!Enum.IsDefined(kind))
        {
            throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown mask schedule.");
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(steps, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(steps, MaxSteps);
        Kind = kind;
        Steps = steps;
    }

    /// <summary>The scheduling function γ.</summary>
    public MaskScheduleKind Kind { get; }

    /// <summary>The number of steps T.</summary>
    public int Steps { get; }

    /// <summary>γ(<paramref name="ratio"/>) for <paramref name="ratio"/> in [0, 1]; 1 at 0 and exactly 0 at 1.</summary>
    public static double Gamma(MaskScheduleKind kind, double ratio)
    {
        if (!(ratio is >= 0 and <= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(ratio), ratio, "The ratio t/T must lie in [0, 1].");
        }

        return kind switch
        {
            // cos(π/2) is 6e-17 in doubles, not 0; the last step is special-cased in MaskCount anyway.
            MaskScheduleKind.Cosine => ratio == 1 ? 0 : Math.Cos(Math.PI / 2 * ratio),
            MaskScheduleKind.Linear => 1 - ratio,
            MaskScheduleKind.Square => 1 - (ratio * ratio),
            MaskScheduleKind.Cubic => 1 - (ratio * ratio * ratio),
            MaskScheduleKind.AmusedCosine => ratio == 1 ? 0 : MathF.Cos((float)ratio * MathF.PI / 2f),
            _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown mask schedule."),
        };
    }

    /// <summary>γ(<paramref name="ratio"/>) of this schedule's kind.</summary>
    public double Gamma(double ratio) => Gamma(Kind, ratio);

    /// <summary>The ratio r = t/T after <paramref name="stepsDone"/> steps, in [0, 1].</summary>
    public double Ratio(int stepsDone)
    {
        CheckStepsDone(stepsDone);
        return (double)stepsDone / Steps;
    }

    /// <summary>
    /// The number of tokens still masked after <paramref name="stepsDone"/> steps (0 to <see cref="Steps"/>)
    /// when <paramref name="initiallyMasked"/> tokens N were masked before the first step:
    /// N at step 0, 0 after the last step, and in between ⌊N · γ(t/T)⌋ clamped as MaskGIT does, so that
    /// every step fixes at least one token (at most one less than were masked before it) and leaves at
    /// least one masked for the steps after it. Where both cannot hold (N &lt; T) the second wins: the count
    /// stays at 1 until the last step fixes it. The clamp makes the count depend on the previous one,
    /// so it is computed step by step (T ≤ 64, so this is cheap).
    /// </summary>
    public int MaskCount(int stepsDone, int initiallyMasked)
    {
        CheckStepsDone(stepsDone);
        ArgumentOutOfRangeException.ThrowIfNegative(initiallyMasked);
        if (stepsDone == Steps || initiallyMasked == 0)
        {
            return 0;
        }

        var masked = initiallyMasked;
        for (var t = 1; t <= stepsDone; t++)
        {
            var scheduled = Kind == MaskScheduleKind.AmusedCosine
                ? (int)MathF.Floor(initiallyMasked * (float)Gamma((float)t / Steps))
                : (int)Math.Floor(initiallyMasked * Gamma((double)t / Steps));
            masked = Math.Max(1, Math.Min(masked - 1, scheduled));
        }

        return masked;
    }

    private void CheckStepsDone(int stepsDone)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(stepsDone);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(stepsDone, Steps);
    }
}
