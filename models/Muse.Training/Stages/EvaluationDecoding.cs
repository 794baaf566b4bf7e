using Muse.Decoding;

namespace Muse.Training.Stages;

/// <summary>Which captions <c>evaluate</c> scores.</summary>
internal enum EvaluationSplit
{
    /// <summary>Held-out captions (content combinations never trained on): the reported numbers.</summary>
    HeldOut,

    /// <summary>Training captions: held-out far below these means the model did not generalise.</summary>
    Train,
}

/// <summary>
/// Decoding settings of <c>evaluate</c>. The defaults are those of pipeline muse-tiny in models/pipelines.json
/// (a test pins them), and <see cref="Base"/> and <see cref="SuperResolution"/> fill in <see cref="DecodeOptions"/>
/// as the orchestrator does (<c>DecodingSettings.FromRequest</c>): one guidance scale, guidance schedule and
/// choice temperature for both stages, a sampling temperature of their own.
/// </summary>
internal sealed record EvaluationDecoding
{
    /// <summary>Parallel decoding steps of the base transformer. Default 16.</summary>
    public int BaseSteps { get; init; } = 16;

    /// <summary>Parallel decoding steps of the super-resolution transformer. Default 8.</summary>
    public int SrSteps { get; init; } = 8;

    /// <summary>Classifier-free guidance scale s; 1 = no guidance. Default 1.5.</summary>
    public float GuidanceScale { get; init; } = 1.5f;

    /// <summary>How the guidance scale varies over the steps. Default constant.</summary>
    public GuidanceSchedule GuidanceSchedule { get; init; } = GuidanceSchedule.Constant;

    /// <summary>Gumbel temperature of confidence re-masking (annealed to 0 at the last step). Default 1.</summary>
    public float ChoiceTemperature { get; init; } = 1f;

    /// <summary>Categorical sampling temperature of the base transformer; 0 = greedy. Default 1.</summary>
    public float SamplingTemperature { get; init; } = 1f;

    /// <summary>Categorical sampling temperature of the super-resolution transformer. Default 0.2.</summary>
    public float SrSamplingTemperature { get; init; } = 0.2f;

    /// <summary>The mask schedule γ of both stages. Default cosine.</summary>
    public MaskScheduleKind MaskSchedule { get; init; } = MaskScheduleKind.Cosine;

    /// <summary>Which captions are scored. Default held-out.</summary>
    public EvaluationSplit Split { get; init; } = EvaluationSplit.HeldOut;

    /// <summary>
    /// Data seed of the captions (caption i is <c>SceneSampler.SampleHeldOut(seed, i)</c>, or <c>Sample</c> with
    /// <see cref="Split"/> train); null = the decoding seed. <c>muse eval --seed S</c> draws its prompts with S + 1 and
    /// seeds prompt i with S + i, so <c>--seed S --caption-seed S+1</c> scores exactly its prompts with its seeds.
    /// </summary>
    public ulong? CaptionSeed { get; init; }

    /// <summary>The base stage's options for <see cref="ParallelDecoder"/>.</summary>
    public DecodeOptions Base => new()
    {
        Steps = BaseSteps,
        MaskSchedule = MaskSchedule,
        GuidanceScale = GuidanceScale,
        GuidanceSchedule = GuidanceSchedule,
        SamplingTemperature = SamplingTemperature,
        ChoiceTemperature = ChoiceTemperature,
    };

    /// <summary>The super-resolution stage's options: the base's with its own steps and sampling temperature.</summary>
    public DecodeOptions SuperResolution => Base with { Steps = SrSteps, SamplingTemperature = SrSamplingTemperature };
}
