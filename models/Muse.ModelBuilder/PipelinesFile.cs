using System.Text.Json;
using System.Text.Json.Nodes;
using Muse.Inference;

namespace Muse.ModelBuilder;

/// <summary>One weighted model version of a pipeline stage in <c>pipelines.json</c>.</summary>
/// <param name="Model">Model name.</param>
/// <param name="Version">Version label.</param>
/// <param name="Weight">A/B routing weight (relative to the stage's other entries).</param>
public sealed record PipelineStageModel(string Model, string Version, double Weight = 1);

/// <summary>Decoding defaults of a pipeline in <c>pipelines.json</c> (models/README.md).</summary>
public sealed record PipelineDefaults
{
    /// <summary>Base decoding steps; default 12.</summary>
    public int BaseSteps { get; init; } = 12;

    /// <summary>SR decoding steps; default 8.</summary>
    public int SrSteps { get; init; } = 8;

    /// <summary>Classifier-free guidance scale; default 3.</summary>
    public double GuidanceScale { get; init; } = 3.0;

    /// <summary>Temperature of token sampling on the replica; default 1.</summary>
    public double SamplingTemperature { get; init; } = 1.0;

    /// <summary>Temperature of the Gumbel noise of re-masking; default 4.5.</summary>
    public double ChoiceTemperature { get; init; } = 4.5;
}

/// <summary>One pipeline of <c>pipelines.json</c>: stage name → weighted model versions, plus defaults.</summary>
public sealed record PipelineDefinition
{
    /// <summary>Free text for humans.</summary>
    public string Description { get; init; } = "";

    /// <summary>Stage (see <see cref="Stages"/>) → models.</summary>
    public required Dictionary<string, List<PipelineStageModel>> Stages { get; init; }

    /// <summary>Decoding defaults.</summary>
    public PipelineDefaults Defaults { get; init; } = new();
}

/// <summary>Edits <c>pipelines.json</c> in place, keeping whatever else the file holds.</summary>
public static class PipelinesFile
{
    /// <summary>
    /// Sets pipeline <paramref name="name"/> to <paramref name="pipeline"/>, keeping every other pipeline and key;
    /// <c>defaultPipeline</c> becomes <paramref name="name"/> only when the file has none. Creates the file if absent.
    /// </summary>
    public static void Upsert(string path, string name, PipelineDefinition pipeline)
    {
        var root = File.Exists(path)
            ? JsonNode.Parse(File.ReadAllText(path)) as JsonObject ?? throw new InvalidDataException($"{path}: not a JSON object.")
            : [];
        if (root["defaultPipeline"] is null)
        {
            root["defaultPipeline"] = name;
        }

        if (root["pipelines"] is not JsonObject pipelines)
        {
            pipelines = [];
            root["pipelines"] = pipelines;
        }

        pipelines[name] = JsonSerializer.SerializeToNode(pipeline, ModelManifest.JsonOptions);
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        File.WriteAllText(path, root.ToJsonString(ModelManifest.JsonOptions) + "\n");
    }
}
