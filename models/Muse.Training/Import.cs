using System.Text.Json;
using Muse.ModelBuilder;
using Muse.Training.Nn;
using Muse.Training.Stages;
using static TorchSharp.torch;

namespace Muse.Training;

/// <summary>
/// <c>import</c>: rebuilds the stage folders (vqgan, text+base, sr) of a shipped model version from the repository
/// (<see cref="ShippedModels"/>): config files, spiece.model, metrics.json (from the manifests' provenance) and a weights-only checkpoint each, so <c>evaluate</c>,
/// <c>decode-parity</c> and <c>parity-fixtures</c> run on exactly the weights that are served.
/// </summary>
internal static class Import
{
    /// <summary>
    /// Writes the stage folders of version <c>options.Version</c>, or of the versions <paramref name="pipeline"/> serves,
    /// under <paramref name="options"/>.Out; returns them.
    /// </summary>
    public static IReadOnlyList<string> Run(TrainOptions options, string repository, string? pipeline)
    {
        var stages = pipeline is null
            ? ShippedModels.Read(repository, options.Version)
            : ShippedModels.Read(repository, PipelinesFile.Read(Path.Combine(Path.GetDirectoryName(Path.GetFullPath(repository))!, "pipelines.json"), pipeline), pipeline);
        var written = new List<string>();
        foreach (var stage in stages)
        {
            var dir = options.StageDir(stage.Stage);
            Directory.CreateDirectory(dir);
            foreach (var (file, config) in stage.Configs)
            {
                File.WriteAllText(Path.Combine(dir, file), JsonSerializer.Serialize(config, config.GetType(), ConfigJson.Options));
            }

            if (stage.Tokenizer is not null)
            {
                File.WriteAllBytes(Path.Combine(dir, "spiece.model"), stage.Tokenizer);
            }

            File.WriteAllText(Path.Combine(dir, "metrics.json"), JsonSerializer.Serialize(stage.Metrics, ConfigJson.Options));
            using var module = Create(stage);
            Fill(module, stage.StateDict, dir);
            Checkpoint.SaveWeights(dir, module);
            written.Add(dir);
        }

        return written;
    }

    private static nn.Module Create(ShippedStage stage) => stage.Stage switch
    {
        VqganTrainer.StageName => new Vqgan((VqganConfig)stage.Configs["config.json"]),
        TransformerTrainer.BaseStageName => new TextBase((T5Config)stage.Configs["t5.config.json"], (TransformerConfig)stage.Configs["config.json"]),
        _ => new MaskedTransformer((TransformerConfig)stage.Configs["config.json"]),
    };

    // Every state_dict entry from the weight of its name; a missing, extra or mis-shaped weight is an error.
    private static void Fill(nn.Module module, IReadOnlyDictionary<string, ModelBuilder.Weights.WeightTensor> weights, string dir)
    {
        using var noGrad = no_grad();
        var state = module.state_dict();
        var extra = weights.Keys.Except(state.Keys, StringComparer.Ordinal).ToArray();
        if (extra.Length > 0)
        {
            throw new InvalidDataException($"{dir}: the module has no {string.Join(", ", extra)}.");
        }

        foreach (var (name, value) in state)
        {
            if (!weights.TryGetValue(name, out var weight))
            {
                throw new InvalidDataException($"{dir}: the shipped model has no {name}.");
            }

            if (!value.shape.SequenceEqual(weight.Shape))
            {
                throw new InvalidDataException($"{dir}: {name} is {weight.ShapeText} in the model, [{string.Join(", ", value.shape)}] in the module.");
            }

            using var source = tensor(weight.Floats, weight.Shape);
            value.copy_(source);
        }
    }
}
