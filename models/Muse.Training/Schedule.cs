namespace Muse.Training;

/// <summary>Learning-rate schedule: linear warm-up, then cosine decay to a floor.</summary>
internal static class Schedule
{
    /// <summary>LR at <paramref name="step"/> (0-based) of <paramref name="total"/>; warm-up 5 % (≤ 200 steps), floor 10 % of peak.</summary>
    public static double LearningRate(double peak, long step, long total)
    {
        var warmup = Math.Max(1, Math.Min(200, total / 20));
        if (step < warmup)
        {
            return peak * (step + 1) / warmup;
        }

        var progress = Math.Min(1.0, (double)(step - warmup) / Math.Max(1, total - warmup));
        return peak * (0.1 + (0.9 * 0.5 * (1 + Math.Cos(Math.PI * progress))));
    }
}
