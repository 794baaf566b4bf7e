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

    /// <summary>How <see cref="ChoiceTemperature"/> is annealed over the steps. Default <see cref="ChoiceTemperatureSchedule.MaskGit"/>.</summary>
    public ChoiceTemperatureSchedule ChoiceTemperatureSchedule { get; init; } = ChoiceTemperatureSchedule.MaskGit;

    /// <summary>
    /// Whether committed tokens compete again: at every step the replica also scores each token accepted in an
    /// earlier step (its probability under the step's guided, temperature-scaled distribution), and re-masking
    /// ranks those with the newly sampled ones, so a token the model no longer believes in can be masked and
    /// sampled again. Tokens the user keeps (<see cref="TokenState.Known"/>) never compete. Default false: MaskGIT,
    /// where a committed token stays.
    /// </summary>
    public bool Recompete { get; init; }

    /// <summary>The re-masking noise scale after step <paramref name="step"/> of <paramref name="schedule"/>.</summary>
    public double ChoiceTemperatureAt(int step, MaskSchedule schedule)
    {
        ArgumentNullException.ThrowIfNull(schedule);
        return ChoiceTemperatureSchedule switch
        {
            // MaskGIT: c · (1 − t/T) read at t + 1, so the first step already has less than c.
            ChoiceTemperatureSchedule.MaskGit => ChoiceTemperature * (1 - schedule.Ratio(step + 1)),
            // aMUSEd: linspace(c, 0, T)[t], c at the first step and 0 at the last.
            _ => schedule.Steps == 1 ? ChoiceTemperature : ChoiceTemperature - (ChoiceTemperature / (schedule.Steps - 1) * step),
        };
    }

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
        if (!Enum.IsDefined(ChoiceTemperatureSchedule))
        {
            throw new ArgumentOutOfRangeException(nameof(ChoiceTemperatureSchedule), ChoiceTemperatureSchedule, "Unknown choice temperature schedule.");
        }
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

/// <summary>How the Gumbel noise of re-masking is annealed to 0 over the steps.</summary>
public enum ChoiceTemperatureSchedule
{
    /// <summary>MaskGIT: <c>c · (1 − (t + 1)/T)</c> at step t.</summary>
    MaskGit,

    /// <summary>aMUSEd (<c>AmusedScheduler</c>'s <c>linspace(c, 0, T)</c>): c at the first step, 0 at the last.</summary>
    Linear,
}
