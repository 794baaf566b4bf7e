using System.Globalization;
using Muse.Training;
using Muse.Training.Stages;
using TorchSharp;

// Command line: train | export-weights | parity-fixtures (see README.md).
if (args.Length == 0)
{
    Console.Error.WriteLine("usage: train --stage vqgan|text+base|sr|all --steps N --out DIR --seed S [--resume] [--smoke]");
    return 2;
}

var verb = args[0];
var named = ParseArgs(args.AsSpan(1));
var options = new TrainOptions
{
    Out = named.GetValueOrDefault("out", "/work/train"),
    Seed = ulong.Parse(named.GetValueOrDefault("seed", "1"), CultureInfo.InvariantCulture),
    Steps = long.Parse(named.GetValueOrDefault("steps", named.ContainsKey("smoke") ? "10" : "1000"), CultureInfo.InvariantCulture),
    Resume = named.ContainsKey("resume"),
    Smoke = named.ContainsKey("smoke"),
    Batch = int.Parse(named.GetValueOrDefault("batch", "0"), CultureInfo.InvariantCulture),
    LearningRate = double.Parse(named.GetValueOrDefault("lr", "0"), CultureInfo.InvariantCulture),
    CheckpointEvery = int.Parse(named.GetValueOrDefault("checkpoint-every", "200"), CultureInfo.InvariantCulture),
    LogEvery = int.Parse(named.GetValueOrDefault("log-every", "50"), CultureInfo.InvariantCulture),
    EvalEvery = int.Parse(named.GetValueOrDefault("eval-every", "500"), CultureInfo.InvariantCulture),
    TrainScenes = int.Parse(named.GetValueOrDefault("scenes", "4000"), CultureInfo.InvariantCulture),
    MaxSeconds = double.Parse(named.GetValueOrDefault("max-seconds", "0"), CultureInfo.InvariantCulture),
    Threads = int.Parse(named.GetValueOrDefault("threads", "2"), CultureInfo.InvariantCulture),
    EmaCodebook = named.ContainsKey("ema-codebook"),
    FreezeText = named.ContainsKey("freeze-text"),
    InitTextFrom = named.GetValueOrDefault("init-text"),
    DecoderFrom = named.GetValueOrDefault("decoder-from"),
    TransformerSize = named.TryGetValue("d-model", out var dModel)
        ? TransformerSize.Parse(dModel, named.GetValueOrDefault("layers"), named.GetValueOrDefault("mlp-dim"))
        : null,
    Version = named.GetValueOrDefault("version", "1"),
    ShapeWeight = double.Parse(named.GetValueOrDefault("shape-weight", "1"), CultureInfo.InvariantCulture),
    Crops = int.Parse(named.GetValueOrDefault("crops", "-1"), CultureInfo.InvariantCulture),
    Vqgan = named.TryGetValue("channels", out var channels)
        ? new VqganConfig
        {
            Channels = [.. channels.Split(',').Select(c => int.Parse(c, CultureInfo.InvariantCulture))],
            EmbedDim = int.Parse(named.GetValueOrDefault("embed-dim", "16"), CultureInfo.InvariantCulture),
            CodebookSize = int.Parse(named.GetValueOrDefault("codebook", "512"), CultureInfo.InvariantCulture),
            PatchDim = named.TryGetValue("patch-dim", out var patchDim) ? int.Parse(patchDim, CultureInfo.InvariantCulture) : null,
        }
        : null,
};
torch.set_num_threads(options.Threads);
var stage = named.GetValueOrDefault("stage", "all");
var log = Console.Out;

switch (verb)
{
    case "train":
        var data = new SceneData(options.Seed, options.Smoke ? 32 : options.TrainScenes);
        if (stage is "vqgan" or "all")
        {
            new VqganTrainer(options, data, log).Run();
        }

        if (stage is "text+base" or "all")
        {
            new TransformerTrainer(options, data, log, superResolution: false).Run();
        }

        if (stage is "sr" or "all")
        {
            new TransformerTrainer(options, data, log, superResolution: true).Run();
        }

        if (options.Smoke && stage == "all")
        {
            // CI check of the whole path: export every stage as ONNX and write parity fixtures, all under --out.
            foreach (var stageName in new[] { "vqgan", "text+base", "sr" })
            {
                foreach (var written in Export.ToRepository(stageName, options, Path.Combine(options.Out, "repository"), Path.Combine(options.Out, "pipelines.json")))
                {
                    log.WriteLine($"exported {written}");
                }
            }

            foreach (var written in ParityFixtures.Run(options, data, Path.Combine(options.Out, "fixtures")))
            {
                log.WriteLine($"wrote {written}");
            }
        }

        return 0;
    case "export-weights":
        foreach (var written in Export.Run(stage, options))
        {
            Console.WriteLine($"wrote {written}");
        }

        return 0;
    case "export":
        foreach (var stageName in stage == "all" ? ["vqgan", "text+base", "sr"] : new[] { stage })
        {
            foreach (var written in Export.ToRepository(stageName, options, named.GetValueOrDefault("repository", "models/repository"), named.GetValueOrDefault("pipelines", "models/pipelines.json")))
            {
                Console.WriteLine($"exported {written}");
            }
        }

        return 0;
    case "evaluate":
        // Unset options keep EvaluationDecoding's defaults (those of pipeline muse-tiny).
        var fallback = new EvaluationDecoding();
        double Number(string key, double otherwise) =>
            named.TryGetValue(key, out var text) ? double.Parse(text, CultureInfo.InvariantCulture) : otherwise;
        var decoding = new EvaluationDecoding(
            (int)Number("base-steps", fallback.BaseSteps),
            (int)Number("sr-steps", fallback.SrSteps),
            Number("guidance", fallback.GuidanceScale),
            Number("choice-temperature", fallback.ChoiceTemperature),
            Number("temperature", fallback.SamplingTemperature),
            Number("sr-temperature", fallback.SrSamplingTemperature),
            named.GetValueOrDefault("guidance-schedule", fallback.GuidanceSchedule),
            named.ContainsKey("remask"),
            named.GetValueOrDefault("split", fallback.Split));
        new Evaluation(options, new SceneData(options.Seed, 0), log, decoding).Run(int.Parse(named.GetValueOrDefault("count", "64"), CultureInfo.InvariantCulture));
        return 0;
    case "parity-fixtures":
        foreach (var written in ParityFixtures.Run(options, new SceneData(options.Seed, 0), named.GetValueOrDefault("fixtures", "tests/fixtures")))
        {
            Console.WriteLine($"wrote {written} ({new FileInfo(written).Length} bytes)");
        }

        return 0;
    case "names":
        // Prints state_dict names and shapes: the contract with Muse.ModelBuilder (models/README.md).
        using (var module = ModelFactory.Create(stage, options.Smoke))
        {
            foreach (var (name, value) in module.state_dict())
            {
                Console.WriteLine($"{name} [{string.Join(", ", value.shape)}]");
            }
        }

        return 0;
    default:
        Console.Error.WriteLine($"unknown verb '{verb}'");
        return 2;
}

static Dictionary<string, string> ParseArgs(ReadOnlySpan<string> args)
{
    var result = new Dictionary<string, string>();
    for (var i = 0; i < args.Length; i++)
    {
        if (!args[i].StartsWith("--", StringComparison.Ordinal))
        {
            throw new ArgumentException($"unexpected argument '{args[i]}'");
        }

        var key = args[i][2..];
        if (i + 1 < args.Length && !args[i + 1].StartsWith("--", StringComparison.Ordinal))
        {
            result[key] = args[++i];
        }
        else
        {
            result[key] = "true";
        }
    }

    return result;
}
