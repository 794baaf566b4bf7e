using Muse.Training.Stages;
using TorchSharp;

namespace Muse.Training.Cli;

/// <summary>The verbs run with TorchSharp (inside modern-userland; see README.md). Log lines go to <paramref name="log"/>.</summary>
internal sealed class TrainerVerbs(TextWriter log) : ITrainerVerbs
{
    private static readonly string[] TrainedStages = [VqganTrainer.StageName, TransformerTrainer.BaseStageName, TransformerTrainer.SrStageName];

    public int Train(string stage, TrainOptions options)
    {
        torch.set_num_threads(options.Threads);
        var data = new SceneData(options.Seed, options.Smoke ? 32 : options.TrainScenes);
        var all = stage == TrainerCommandLine.AllStages;
        if (all || stage == VqganTrainer.StageName)
        {
            new VqganTrainer(options, data, log).Run();
        }

        if (all || stage == TransformerTrainer.BaseStageName)
        {
            new TransformerTrainer(options, data, log, superResolution: false).Run();
        }

        if (all || stage == TransformerTrainer.SrStageName)
        {
            new TransformerTrainer(options, data, log, superResolution: true).Run();
        }

        if (options.Smoke && all)
        {
            // CI check of the whole path: export every stage as ONNX and write parity fixtures, all under --out.
            foreach (var stageName in TrainedStages)
            {
                foreach (var written in Training.Export.ToRepository(stageName, options, Path.Combine(options.Out, "repository"), Path.Combine(options.Out, "pipelines.json")))
                {
                    log.WriteLine($"exported {written}");
                }
            }

            foreach (var written in Training.ParityFixtures.Run(options, data, Path.Combine(options.Out, "fixtures")))
            {
                log.WriteLine($"wrote {written}");
            }
        }

        return 0;
    }

    public int ExportWeights(string stage, TrainOptions options)
    {
        torch.set_num_threads(options.Threads);
        foreach (var written in Training.Export.Run(stage, options))
        {
            log.WriteLine($"wrote {written}");
        }

        return 0;
    }

    public int Export(string stage, TrainOptions options, string repository, string pipelines)
    {
        torch.set_num_threads(options.Threads);
        foreach (var stageName in stage == TrainerCommandLine.AllStages ? TrainedStages : [stage])
        {
            foreach (var written in Training.Export.ToRepository(stageName, options, repository, pipelines))
            {
                log.WriteLine($"exported {written}");
            }
        }

        return 0;
    }

    public int ParityFixtures(string stage, TrainOptions options, string fixtures)
    {
        torch.set_num_threads(options.Threads);
        foreach (var written in Training.ParityFixtures.Run(options, new SceneData(options.Seed, 0), fixtures, stage))
        {
            log.WriteLine($"wrote {written} ({new FileInfo(written).Length} bytes)");
        }

        return 0;
    }

    public int Evaluate(TrainOptions options, EvaluationDecoding decoding, int count)
    {
        torch.set_num_threads(options.Threads);
        new Evaluation(options, new SceneData(decoding.CaptionSeed ?? options.Seed, 0), log, decoding).Run(count);
        return 0;
    }

    public int DecodeParity(TrainOptions options, EvaluationDecoding decoding, int count, string repository)
    {
        torch.set_num_threads(options.Threads);
        var results = new DecodeParity(options, new SceneData(decoding.CaptionSeed ?? options.Seed, 0), log, decoding).Run(repository, count);
        // Tokens may part where a draw lands within rounding of a boundary; logits beyond the parity tolerance are a failure.
        return results.All(r => r.MaxLogitDifference <= Stages.DecodeParity.LogitTolerance) ? 0 : 1;
    }

    public int Import(TrainOptions options, string repository, string? pipeline)
    {
        foreach (var written in Training.Import.Run(options, repository, pipeline))
        {
            log.WriteLine($"wrote {written}");
        }

        return 0;
    }

    public int Names(string model, bool smoke)
    {
        // The contract with Muse.ModelBuilder (models/README.md).
        using var module = ModelFactory.Create(model, smoke);
        foreach (var (name, value) in module.state_dict())
        {
            log.WriteLine($"{name} [{string.Join(", ", value.shape)}]");
        }

        return 0;
    }
}
