using System.Text.Json;
using Muse.ModelBuilder;
using Muse.ModelBuilder.Weights;
using Muse.Training.Stages;
using PipelineDefinition = Muse.Repository.PipelineDefinition;
using StageNames = Muse.Repository.Stages;

namespace Muse.Training;

/// <summary>
/// One stage folder of the trainer rebuilt from a shipped model version: its config files (trainer records, as the
/// stage writes them) and its state_dict, every entry named as the stage's module names it (the text+base module holds
/// the T5 under <c>t5.</c> and the base under <c>base.</c>).
/// </summary>
/// <param name="Metrics">The stage's metrics.json as its manifests' provenance records it: seed, steps and wall seconds
/// of the training behind it (text+base: and its T5's, as <c>textSteps</c>/<c>textSeconds</c>), and the measurements.</param>
internal sealed record ShippedStage(string Stage, IReadOnlyDictionary<string, object> Configs, IReadOnlyDictionary<string, WeightTensor> StateDict, byte[]? Tokenizer, IReadOnlyDictionary<string, double> Metrics);

/// <summary>
/// Reads the trained weights of a repository version <c>muse-tiny-*/N</c> back out of its ONNX graphs
/// (<see cref="OnnxWeights"/>) and the architecture sizes out of its manifests, as the trainer's stage folders hold
/// them. The inverse of <see cref="Export"/>; no TorchSharp, so it is tested on the host.
/// </summary>
internal static class ShippedModels
{
    /// <summary>The three stage folders (vqgan, text+base, sr) of version <paramref name="version"/> in <paramref name="repository"/>.</summary>
    public static IReadOnlyList<ShippedStage> Read(string repository, string version) =>
        Read(model => Path.Combine(repository, $"{Export.SetName}-{model}", version));

    /// <summary>
    /// The three stage folders of the model versions <paramref name="pipeline"/> serves (a pipeline may mix versions,
    /// e.g. a new SR over an older base). A stage split between versions for A/B has no one version to import.
    /// </summary>
    public static IReadOnlyList<ShippedStage> Read(string repository, PipelineDefinition pipeline, string name)
    {
        string Dir(string stage)
        {
            var candidates = pipeline.Stages.GetValueOrDefault(stage) ?? [];
            return candidates.Count == 1
                ? Path.Combine(repository, candidates[0].Model, candidates[0].Version)
                : throw new InvalidDataException($"Pipeline '{name}' has {candidates.Count} versions at stage {stage}; import takes a pipeline with one per stage.");
        }

        var dirs = new Dictionary<string, string>
        {
            ["vqgan"] = Dir(StageNames.ImageTokenizer),
            ["t5"] = Dir(StageNames.TextEncoder),
            ["base"] = Dir(StageNames.Base),
            ["sr"] = Dir(StageNames.SuperResolution),
        };
        return Read(model => dirs[model]);
    }

    // The folders by model kind (vqgan, t5, base, sr).
    private static IReadOnlyList<ShippedStage> Read(Func<string, string> dirOf)
    {
        var (_, vqganArchitecture, vqgan) = OnnxWeights.ReadModel(dirOf("vqgan"));
        var (_, t5Architecture, t5) = OnnxWeights.ReadModel(dirOf("t5"));
        var (_, baseArchitecture, baseWeights) = OnnxWeights.ReadModel(dirOf("base"));
        var (_, srArchitecture, sr) = OnnxWeights.ReadModel(dirOf("sr"));

        var textBase = new Dictionary<string, WeightTensor>(StringComparer.Ordinal);
        foreach (var (name, value) in t5)
        {
            textBase[$"t5.{name}"] = value;
        }

        foreach (var (name, value) in baseWeights)
        {
            textBase[$"base.{name}"] = value;
        }

        return
        [
            new(VqganTrainer.StageName, new Dictionary<string, object> { ["config.json"] = Config<VqganConfig>(vqganArchitecture) }, vqgan, null, Provenance(dirOf("vqgan"))),
            new(
                TransformerTrainer.BaseStageName,
                new Dictionary<string, object>
                {
                    ["t5.config.json"] = Config<T5Config>(t5Architecture),
                    ["config.json"] = Config<TransformerConfig>(baseArchitecture) with { Role = "base" },
                },
                textBase,
                File.ReadAllBytes(Path.Combine(dirOf("t5"), ModelExporter.TokenizerFileName)),
                Provenance(dirOf("base"), text: Provenance(dirOf("t5")))),
            new(TransformerTrainer.SrStageName, new Dictionary<string, object> { ["config.json"] = Config<TransformerConfig>(srArchitecture) with { Role = "sr" } }, sr, null, Provenance(dirOf("sr"))),
        ];
    }

    // metrics.json of a stage from its manifest's provenance, so a run started from an imported folder (--decoder-from,
    // --init-text, --init-from) counts the training behind it.
    private static Dictionary<string, double> Provenance(string modelDir, Dictionary<string, double>? text = null)
    {
        using var manifest = JsonDocument.Parse(File.ReadAllText(Path.Combine(modelDir, ModelExporter.ManifestFileName)));
        var provenance = manifest.RootElement.GetProperty("provenance");
        var metrics = new Dictionary<string, double>(StringComparer.Ordinal);
        if (provenance.TryGetProperty("metrics", out var measured))
        {
            foreach (var property in measured.EnumerateObject().Where(p => p.Value.ValueKind == JsonValueKind.Number))
            {
                metrics[property.Name] = property.Value.GetDouble();
            }
        }

        metrics["seed"] = provenance.GetProperty("seed").GetUInt64();
        metrics["steps"] = provenance.GetProperty("trainingSteps").GetDouble();
        metrics["seconds"] = provenance.GetProperty("trainingSeconds").GetDouble();
        if (text is not null)
        {
            metrics["textSteps"] = text["steps"];
            metrics["textSeconds"] = text["seconds"];
        }

        return metrics;
    }

    // The builder's architecture JSON (models/README.md) is the trainer's config JSON (Export writes one from the other).
    private static T Config<T>(ModelBuilder.Architectures.ArchitectureConfig architecture) =>
        JsonSerializer.Deserialize<T>(architecture.ToJson(), ConfigJson.Options)
        ?? throw new InvalidDataException($"Empty {typeof(T).Name}.");
}
