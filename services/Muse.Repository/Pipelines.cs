using System.Text.Json.Serialization;

namespace Muse.Repository;

/// <summary><c>models/pipelines.json</c>: which model versions make a pipeline, with A/B weights.</summary>
public sealed record PipelinesDocument
{
    /// <summary>Pipeline used when a request names none.</summary>
    public string DefaultPipeline { get; init; } = "";

    /// <summary>Pipeline name → definition.</summary>
    public Dictionary<string, PipelineDefinition> Pipelines { get; init; } = [];
}

/// <summary>One pipeline: stage name → weighted model versions, plus request defaults.</summary>
public sealed record PipelineDefinition
{
    /// <summary>Free text for humans.</summary>
    public string Description { get; init; } = "";

    /// <summary>Stage (see <see cref="Stages"/>) → candidate versions; every stage needs at least one.</summary>
    public required Dictionary<string, List<PipelineStageModel>> Stages { get; init; }

    /// <summary>Settings used where a request leaves a field unset.</summary>
    public PipelineDefaults Defaults { get; init; } = new();
}

/// <summary>One weighted model version of a pipeline stage.</summary>
/// <param name="Model">Model name.</param>
/// <param name="Version">Version label.</param>
/// <param name="Weight">A/B routing weight relative to the stage's other candidates (> 0). Default 1.</param>
public sealed record PipelineStageModel(string Model, string Version, double Weight = 1)
{
    /// <summary><c>name/version</c>.</summary>
    [JsonIgnore]
    public string Id => $"{Model}/{Version}";
}

/// <summary>Request defaults of a pipeline (the paper's values scaled to the tiny models).</summary>
public sealed record PipelineDefaults
{
    /// <summary>Base steps T. Default 12.</summary>
    public int BaseSteps { get; init; } = 12;

    /// <summary>Super-resolution steps. Default 8.</summary>
    public int SrSteps { get; init; } = 8;

    /// <summary>Classifier-free guidance scale. Default 3.</summary>
    public double GuidanceScale { get; init; } = 3.0;

    /// <summary>Categorical sampling temperature on the replicas. Default 1.</summary>
    public double SamplingTemperature { get; init; } = 1.0;

    /// <summary>
    /// Sampling temperature of the super-resolution model; null (default) = <see cref="SamplingTemperature"/>.
    /// SR mostly copies what the low-resolution tokens show, so sampling it cooler loses little variety.
    /// </summary>
    public double? SrSamplingTemperature { get; init; }

    /// <summary>Gumbel temperature of confidence re-masking. Default 4.5 (MaskGIT).</summary>
    public double ChoiceTemperature { get; init; } = 4.5;

    /// <summary>How the choice temperature is annealed: <c>maskGit</c> (default, c · (1 − (t+1)/T)) or <c>linear</c> (aMUSEd, linspace(c, 0, T)).</summary>
    public string ChoiceTemperatureSchedule { get; init; } = "maskGit";

    /// <summary>
    /// Re-competition in the base stage (decoding option <c>recompete</c>): committed tokens are scored again at every
    /// step and ranked with the new ones for re-masking. Default false.
    /// </summary>
    public bool Recompete { get; init; }

    /// <summary>Re-competition in the super-resolution stage (decoding option <c>sr_recompete</c>). Default false.</summary>
    public bool SrRecompete { get; init; }

    /// <summary>Mask schedule name: <c>cosine</c> (default, Muse and MaskGIT), <c>linear</c>, <c>square</c>, <c>cubic</c>.</summary>
    public string MaskSchedule { get; init; } = "cosine";

    /// <summary>
    /// Micro-conditions sent with every image to transformers that take them (aMUSEd: original width, original height,
    /// crop top, crop left, aesthetic score = W, H, 0, 0, 6); null (default) for models without them.
    /// </summary>
    public float[]? MicroConditions { get; init; }
}
