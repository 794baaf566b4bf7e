namespace Muse.Decoding;

/// <summary>
/// Parameters of one decoding loop (one stage). Defaults follow MaskGIT and Muse for the base stage;
/// the super-resolution stage usually runs fewer steps (the orchestrator's default is 8).
/// </summary>
public sealed record DecodeOptions
{
    /// <summary>The largest guidance scale accepted.</summary>
    public const float MaxGuidanceScale = 50f;

    /// <summary>The largest sampling temperature accepted (as in <c>muse.v1.DecodingOptions</c>).</summary>
    public const float MaxSamplingTemperature = 10f;

    /// <summary>The largest choice temperature accepted.</summary>
    public const float MaxChoiceTemperature = 50f;

    /// <summary>Parallel decoding steps T, 1 to <see cref="Decoding.MaskSchedule.MaxSteps"/>. Default 12 (MaskGIT).</summary>
    public int Steps { get; init; } = 12;

    /// <summary>The mask scheduling function γ. Default <see cref="MaskScheduleKind.Cosine"/>.</summary>
    public MaskScheduleKind MaskSchedule { get; init; } = MaskScheduleKind.Cosine;

    /// <summary>Classifier-free guidance scale s, 0 to 50; 1 = no guidance (one forward pass). Default 3.</summary>
    public float GuidanceScale { get; init; } = 3f;

    /// <summary>How the guidance scale varies over the steps. Default <see cref="Decoding.GuidanceSchedule.Constant"/>.</summary>
    public GuidanceSchedule GuidanceSchedule { get; init; } = GuidanceSchedule.Constant;

    /// <summary>Categorical sampling temperature on the replica, 0 (greedy) to 10. Default 1.</summary>
    public float SamplingTemperature { get; init; } = 1f;

    /// <summary>
    /// Scale of the Gumbel noise added to log-confidence when re-masking, 0 to 50, annealed linearly to 0 at the
    /// last step (MaskGIT). Default 4.5 (MaskGIT's ImageNet setting).
    /// </summary>
    public float ChoiceTemperature { get; init; } = 4.5f;

    /// <summary>The mask schedule these options describe.</summary>
    public MaskSchedule CreateSchedule() => new(MaskSchedule, Steps);

    /// <summary>Checks every parameter; the exception names the first one out of range.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A parameter is out of range or not finite.</exception>
    public void Validate()
    {
        if (Steps is < 1 or > Decoding.MaskSchedule.MaxSteps)
        {
            throw new ArgumentOutOfRangeException(nameof(Steps), Steps, $"Must be 1 to {Decoding.MaskSchedule.MaxSteps}.");
        }

        if (!Enum.IsDefined(MaskSchedule))
        {
            throw new ArgumentOutOfRangeException(nameof(MaskSchedule), MaskSchedule, "Unknown mask schedule.");
        }

        CheckRange(GuidanceScale, MaxGuidanceScale, nameof(GuidanceScale));
        if (!Enum.IsDefined(GuidanceSchedule))
        {
            throw new ArgumentOutOfRangeException(nameof(GuidanceSchedule), GuidanceSchedule, "Unknown guidance schedule.");
        }

        CheckRange(SamplingTemperature, MaxSamplingTemperature, nameof(SamplingTemperature));
        CheckRange(ChoiceTemperature, MaxChoiceTemperature, nameof(ChoiceTemperature));
    }

    private static void CheckRange(float value, float max, string name)
    {
        // Written so that NaN fails too.
        if (!(value >= 0 && value <= max))
        {
            throw new ArgumentOutOfRangeException(name, value, $"Must be a finite number from 0 to {max}.");
        }
    }
}
