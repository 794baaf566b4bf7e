using Muse.Decoding;

namespace Muse.Orchestrator.Pipelines;

/// <summary><c>models/pipelines.json</c>: which model versions make a pipeline, with A/B weights.</summary>
public sealed record PipelinesFile
{
    /// <summary>Pipeline used when a request names none.</summary>
    public string DefaultPipeline { get; init; } = "";

    /// <summary>Pipeline name → definition.</summary>
    public Dictionary<string, PipelineDefinition> Pipelines { get; init; } = [];
}

/// <summary>One pipeline: candidate versions per stage and request defaults.</summary>
public sealed record PipelineDefinition
{
    /// <summary>Free text for humans.</summary>
    public string Description { get; init; } = "";

    /// <summary>Stage name (see <c>Muse.Inference.Stages</c>) → weighted candidates; every stage needs at least one.</summary>
    public Dictionary<string, List<WeightedModelRef>> Stages { get; init; } = [];

    /// <summary>Settings used where a request leaves a field unset.</summary>
    public PipelineDefaults Defaults { get; init; } = new();
}

/// <summary>A model version with its routing weight.</summary>
public sealed record WeightedModelRef
{
    /// <summary>Model name.</summary>
    public string Model { get; init; } = "";

    /// <summary>Version label.</summary>
    public string Version { get; init; } = "";

    /// <summary>Relative weight among the stage's candidates (> 0). Default 1.</summary>
    public double Weight { get; init; } = 1;

    /// <summary><c>name/version</c>.</summary>
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
    public float GuidanceScale { get; init; } = 3f;

    /// <summary>Categorical sampling temperature. Default 1.</summary>
    public float SamplingTemperature { get; init; } = 1f;

    /// <summary>Gumbel temperature of re-masking. Default 4.5 (MaskGIT).</summary>
    public float ChoiceTemperature { get; init; } = 4.5f;

    /// <summary>Mask schedule. Default cosine (Muse, MaskGIT).</summary>
    public MaskScheduleKind MaskSchedule { get; init; } = MaskScheduleKind.Cosine;
}
