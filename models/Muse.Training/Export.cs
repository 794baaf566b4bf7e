using System.Text.Json;
using Muse.ModelBuilder;
using Muse.ModelBuilder.Architectures;
using Muse.ModelBuilder.Weights;
using Muse.Repository;
using Muse.Training.Stages;
using static TorchSharp.torch;

namespace Muse.Training;

/// <summary>
/// <c>export-weights</c>: writes <c>config.json</c> (validated by the builder's <see cref="ArchitectureConfig"/>),
/// <c>weights.safetensors</c> (PyTorch names and layouts, models/README.md) and <c>provenance.json</c> of each
/// model of a stage into <c>&lt;stage dir&gt;/export/&lt;model&gt;/</c>, ready for <c>Muse.ModelBuilder export</c>.
/// </summary>
internal static class Export
{
    /// <summary>Exports the models of <paramref name="stage"/>; returns the folders written.</summary>
    public static IReadOnlyList<string> Run(string stage, TrainOptions options)
    {
        var dir = options.StageDir(stage);
        var progress = StageMetrics.Read(dir);
        // The seed the stage was trained with (metrics.json); --seed only for stages trained before it was recorded.
        var seed = progress.Seed ?? options.Seed;
        var metrics = progress.Measurements;
        // Everything behind the stage: a decoder-only VQGAN counts the encoder and codebook it kept, a base the base it
        // started from (--init-from).
        var (steps, seconds) = progress.Training;
        var written = new List<string>();
        switch (stage)
        {
            case VqganTrainer.StageName:
            {
                var vqgan = StageIo.LoadVqgan(dir);
                written.Add(Write(dir, "vqgan", vqgan.Config, vqgan.state_dict(), "", seed, steps, seconds, metrics));
                break;
            }

            case TransformerTrainer.BaseStageName:
            {
                // The T5's own training, counting the run it started from (--init-text).
                var (textSteps, textSeconds) = progress.TextTraining;
                var joint = StageIo.LoadTextBase(dir);
                var t5Dir = Write(dir, "t5", joint.T5.Config, joint.state_dict(), "t5.", seed, textSteps, textSeconds, metrics);
                File.Copy(Path.Combine(dir, "spiece.model"), Path.Combine(t5Dir, "spiece.model"), overwrite: true);
                written.Add(t5Dir);
                written.Add(Write(dir, "base", joint.Base.Config, joint.state_dict(), "base.", seed, steps, seconds, metrics));
                break;
            }

            case TransformerTrainer.SrStageName:
            {
                var sr = StageIo.LoadTransformer(dir);
                written.Add(Write(dir, "sr", sr.Config, sr.state_dict(), "", seed, steps, seconds, metrics));
                break;
            }

            default:
                throw new ArgumentException($"unknown stage '{stage}' (vqgan, text+base, sr)");
        }

        return written;
    }

    /// <summary>Name prefix of the trained model set and of its pipeline.</summary>
    public const string SetName = "muse-tiny";

    /// <summary>
    /// Exports the stage's models as ONNX + manifest into <paramref name="repository"/> (through the builder's
    /// <see cref="ModelExporter"/>), and, once all four models are there, writes pipeline <c>muse-tiny</c> into
    /// <paramref name="pipelinesPath"/>. Returns the model folders written.
    /// </summary>
    public static IReadOnlyList<string> ToRepository(string stage, TrainOptions options, string repository, string pipelinesPath)
    {
        var version = options.Version;
        var pairs = options.PairVersion ?? version;
        var written = new List<string>();
        foreach (var folder in Run(stage, options))
        {
            var model = Path.GetFileName(folder);
            var config = ArchitectureConfig.Load(Path.Combine(folder, "config.json"));
            var (onnxStage, description) = (model, config) switch
            {
                ("vqgan", _) => (Muse.Repository.Stages.ImageTokenizer, "VQGAN image tokenizer trained on the synthetic scenes (64 and 128 px; fully convolutional, so any multiple of 8 px)."),
                ("t5", _) => (Muse.Repository.Stages.TextEncoder, "T5 text encoder trained jointly with muse-tiny-base on the scene captions."),
                ("base", Muse.ModelBuilder.Architectures.TransformerConfig t) => (Muse.Repository.Stages.Base, Transformer("Base", t)),
                (_, Muse.ModelBuilder.Architectures.TransformerConfig t) => (Muse.Repository.Stages.SuperResolution, Transformer("Super-resolution", t)),
                _ => throw new InvalidDataException($"{folder}: {model} is not a transformer."),
            };
            var tokenizerPath = Path.Combine(folder, "spiece.model");
            var result = ModelExporter.Export(new ExportRequest
            {
                Stage = onnxStage,
                Name = $"{SetName}-{model}",
                Version = version,
                Config = config,
                Weights = Safetensors.Read(Path.Combine(folder, "weights.safetensors")),
                Provenance = JsonSerializer.Deserialize<Provenance>(File.ReadAllText(Path.Combine(folder, "provenance.json")), ModelManifest.JsonOptions)!,
                Trained = true,
                Description = description,
                TokenizerModel = File.Exists(tokenizerPath) ? File.ReadAllBytes(tokenizerPath) : null,
                ImageTokenizer = model is "base" or "sr" ? $"{SetName}-vqgan/{pairs}" : "",
                TextEncoder = model is "base" or "sr" ? $"{SetName}-t5/{pairs}" : "",
            }, repository);
            written.Add(result.Directory);
        }

        string[] models = ["t5", "vqgan", "base", "sr"];
        if (models.All(m => File.Exists(Path.Combine(repository, $"{SetName}-{m}", version, ModelExporter.ManifestFileName))))
        {
            PipelinesFile.Upsert(pipelinesPath, SetName, new PipelineDefinition
            {
                Description = "Tiny Muse trained on the synthetic scenes (Muse.Training).",
                Stages = new()
                {
                    [Muse.Repository.Stages.TextEncoder] = [new PipelineStageModel($"{SetName}-t5", version)],
                    [Muse.Repository.Stages.ImageTokenizer] = [new PipelineStageModel($"{SetName}-vqgan", version)],
                    [Muse.Repository.Stages.Base] = [new PipelineStageModel($"{SetName}-base", version)],
                    [Muse.Repository.Stages.SuperResolution] = [new PipelineStageModel($"{SetName}-sr", version)],
                },
            });
        }

        return written;
    }

    // The muse-tiny VQGAN downsamples by 8, so a grid of w tokens is 8·w px.
    private static string Transformer(string role, Muse.ModelBuilder.Architectures.TransformerConfig config) =>
        $"{role} masked transformer ({config.GridHeight}×{config.GridWidth} tokens, {config.GridWidth * 8} px) trained on the synthetic scenes.";

    private static string Write(
        string stageDir, string model, object config, Dictionary<string, Tensor> stateDict, string prefix,
        ulong seed, long steps, double seconds, Dictionary<string, double> metrics)
    {
        var outDir = Path.Combine(stageDir, "export", model);
        Directory.CreateDirectory(outDir);

        // Round-trip through the builder's config types: the file is exactly what the builder accepts.
        var architecture = ArchitectureConfig.Parse(JsonSerializer.Serialize(config, config.GetType(), ConfigJson.Options));
        File.WriteAllText(Path.Combine(outDir, "config.json"), architecture.ToJson());

        var weights = new SortedDictionary<string, WeightTensor>(StringComparer.Ordinal);
        foreach (var (name, value) in stateDict)
        {
            if (!name.StartsWith(prefix, StringComparison.Ordinal))
            {
                continue;
            }

            using var cpu = value.detach().cpu().contiguous().to_type(ScalarType.Float32);
            weights[name[prefix.Length..]] = WeightTensor.Float(cpu.data<float>().ToArray(), cpu.shape);
        }

        Safetensors.Write(Path.Combine(outDir, "weights.safetensors"), weights);
        var provenance = new Provenance
        {
            Source = "trained",
            Seed = seed,
            DatasetHash = SceneData.DatasetHash,
            TrainingSteps = steps,
            TrainingSeconds = Math.Round(seconds, 1),
            Metrics = metrics,
        };
        File.WriteAllText(Path.Combine(outDir, "provenance.json"), JsonSerializer.Serialize(provenance, ModelManifest.JsonOptions));
        return outDir;
    }
}
