using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using Muse.Decoding;
using Muse.Training.Stages;

namespace Muse.Training.Cli;

/// <summary>
/// The trainer's command line: one subcommand per verb, each with its own typed options, help text and defaults
/// (those of <see cref="TrainOptions"/> and <see cref="EvaluationDecoding"/>). Parsing and binding touch no
/// TorchSharp: the verbs run behind <see cref="ITrainerVerbs"/>. Unknown verbs and options are errors (exit 1).
/// </summary>
internal static class TrainerCommandLine
{
    /// <summary>The --stage value that runs every stage in order.</summary>
    public const string AllStages = "all";

    // --steps without a value under --smoke: enough to run every code path once per stage.
    private const long SmokeSteps = 10;

    private const string ProvenanceSeed =
        "Provenance seed, only for stage folders trained before metrics.json recorded theirs (a recorded one wins)";

    // The defaults of every option come from the option records, so help and behaviour cannot disagree.
    private static readonly TrainOptions Defaults = new();
    private static readonly EvaluationDecoding DecodingDefaults = new();

    private static readonly string[] TrainedStages = [VqganTrainer.StageName, TransformerTrainer.BaseStageName, TransformerTrainer.SrStageName];

    public static RootCommand Create(ITrainerVerbs verbs)
    {
        ArgumentNullException.ThrowIfNull(verbs);
        return new RootCommand("TorchSharp trainer of the tiny Muse model set (muse-tiny-*) on the synthetic scenes; see models/Muse.Training/README.md.")
        {
            TrainCommand(verbs),
            ExportWeightsCommand(verbs),
            ExportCommand(verbs),
            ParityFixturesCommand(verbs),
            EvaluateCommand(verbs),
            DecodeParityCommand(verbs),
            ImportCommand(verbs),
            NamesCommand(verbs),
        };
    }

    private static Command TrainCommand(ITrainerVerbs verbs)
    {
        var stage = Stage("Stage to train", [.. TrainedStages, AllStages], AllStages);
        var folders = new StageFolderOptions("Seed of weight init, data order, masking and restarts; the stage records it");
        var steps = new Option<long?>("--steps") { Description = $"Total optimizer steps of the stage; the LR schedule spans them (default {Defaults.Steps}, {SmokeSteps} with --smoke)" };
        var resume = new Option<bool>("--resume") { Description = "Continue from the stage's checkpoint (same data order and LR schedule)" };
        var smoke = new Option<bool>("--smoke") { Description = $"CI path: tiny sizes, 32 scenes; with --stage {AllStages} also the ONNX export to <out>/repository and fixtures to <out>/fixtures" };
        var batch = Number("--batch", "Images per batch; 0 = the stage's default", Defaults.Batch);
        var learningRate = Number("--lr", "Peak learning rate; 0 = the stage's default", Defaults.LearningRate);
        var checkpointEvery = Number("--checkpoint-every", "Steps between checkpoints", Defaults.CheckpointEvery);
        var logEvery = Number("--log-every", "Steps between log lines", Defaults.LogEvery);
        var evalEvery = Number("--eval-every", "Steps between held-out evaluations", Defaults.EvalEvery);
        var scenes = Number("--scenes", "Training scenes rendered and kept in memory", Defaults.TrainScenes);
        var maxSeconds = Number("--max-seconds", "Stop after a checkpoint once this many wall seconds have passed; 0 = no limit", Defaults.MaxSeconds);
        var version = Version("Model version label of the --smoke export");
        var emaCodebook = new Option<bool>("--ema-codebook") { Description = "vqgan: codebook by EMA updates instead of a codebook loss" };
        var shapeWeight = Number("--shape-weight", "vqgan: loss weight of pixels unlike the corner colour (shapes); 1 = unweighted", Defaults.ShapeWeight);
        var crops = Number("--crops", "vqgan: 64 px crops of 128 px scenes per batch; -1 = half the batch", Defaults.Crops);
        var channels = new Option<int[]?>("--channels")
        {
            Description = "vqgan: channels c0,c1,c2,c3 of a new architecture (default: the shipped patch encoder; with --channels and no --patch-dim the convolutional encoder)",
            Arity = ArgumentArity.ExactlyOne,   // one comma-separated token; absent = an empty array
            CustomParser = ParseChannels,
        };
        var embedDim = Number("--embed-dim", "vqgan with --channels: codebook vector size", new VqganConfig().EmbedDim);
        var codebook = Number("--codebook", "vqgan with --channels: codebook size K", new VqganConfig().CodebookSize);
        var patchDim = new Option<int?>("--patch-dim") { Description = "vqgan with --channels: width of the patch encoder (default: the convolutional encoder)" };
        var decoderFrom = new Option<string?>("--decoder-from") { Description = "vqgan: train only the decoder of the trained VQGAN stage folder DIR (encoder and codebook frozen: tokens unchanged)" };
        var freezeText = new Option<bool>("--freeze-text") { Description = "text+base: keep the T5 fixed and train the base alone" };
        var initText = new Option<string?>("--init-text") { Description = "text+base: a new run starts its T5 from the text+base stage in DIR" };
        var initFrom = new Option<string?>("--init-from") { Description = "text+base: a new run starts its T5 and base from the text+base stage in DIR; sr: a new run starts from the SR (config and weights) in DIR (fine-tuning)" };
        var corruptVisible = Number("--corrupt-visible", "text+base, sr: share of visible tokens replaced by a random code and scored like masked ones (teaches judging shown tokens; 0 = masked-only loss)", Defaults.CorruptVisible);
        var srSize = Number("--sr-size", "sr: pixel size of the scenes a new SR run learns (128 or 256; grid = size / 8)", Defaults.SrSize);
        var srCrop = Number("--sr-crop", "sr: train on random C×C windows of the grid (0 = the whole grid)", Defaults.SrCrop);
        var cropSource = Number("--crop-source", "vqgan: pixel size of the scenes the 64 px crops are cut from (128 or 256)", Defaults.CropSource);
        var dModel = new Option<int?>("--d-model") { Description = "Width D of a new run's transformer, base or sr (default: the stage's)" };
        var layers = new Option<int?>("--layers") { Description = "With --d-model: transformer layers (default 3)" };
        var mlpDim = new Option<int?>("--mlp-dim") { Description = "With --d-model: MLP width (default 2·D)" };

        var command = new Command("train", "Train a stage (or all); checkpoints go to <out>/<stage>/checkpoint.bin")
        {
            stage, steps, resume, smoke, batch, learningRate, checkpointEvery, logEvery, evalEvery, scenes, maxSeconds, version,
            emaCodebook, shapeWeight, crops, channels, embedDim, codebook, patchDim, decoderFrom, freezeText, initText, initFrom, corruptVisible, srSize, srCrop, cropSource, dModel, layers, mlpDim,
        };
        folders.AddTo(command);
        command.Validators.Add(result =>
        {
            // Without the option they refine, these would be ignored silently.
            RequireWith(result, dModel, layers, mlpDim);
            RequireWith(result, channels, embedDim, codebook, patchDim);
            foreach (var (option, allowed) in new[] { (srSize, new[] { 128, 256 }), (cropSource, new[] { 128, 256 }) })
            {
                if (result.GetResult(option) is { Implicit: false } && result.GetValue(option) is var value && !allowed.Contains(value))
                {
                    result.AddError($"{option.Name} must be 128 or 256, not {value}.");
                }
            }

            if (result.GetResult(corruptVisible) is { Implicit: false } && result.GetValue(corruptVisible) is < 0 or >= 1)
            {
                result.AddError($"--corrupt-visible must be in [0, 1), not {result.GetValue(corruptVisible)}.");
            }

            if (result.GetResult(srCrop) is { Implicit: false } && result.GetValue(srCrop) is < 0 or (> 0 and < 4))
            {
                result.AddError($"--sr-crop must be 0 (the whole grid) or at least 4, not {result.GetValue(srCrop)}.");
            }

            if (result.GetValue(initFrom) is not null && result.GetValue(initText) is not null)
            {
                result.AddError("--init-from already starts the T5 from its folder; drop --init-text.");
            }
        });
        command.SetAction(parse =>
        {
            var isSmoke = parse.GetValue(smoke);
            var options = folders.Bind(parse) with
            {
                Steps = parse.GetValue(steps) ?? (isSmoke ? SmokeSteps : Defaults.Steps),
                Resume = parse.GetValue(resume),
                Smoke = isSmoke,
                Batch = parse.GetValue(batch),
                LearningRate = parse.GetValue(learningRate),
                CheckpointEvery = parse.GetValue(checkpointEvery),
                LogEvery = parse.GetValue(logEvery),
                EvalEvery = parse.GetValue(evalEvery),
                TrainScenes = parse.GetValue(scenes),
                MaxSeconds = parse.GetValue(maxSeconds),
                Version = parse.GetRequiredValue(version),
                EmaCodebook = parse.GetValue(emaCodebook),
                ShapeWeight = parse.GetValue(shapeWeight),
                Crops = parse.GetValue(crops),
                Vqgan = parse.GetValue(channels) is { Length: > 0 } c
                    ? new VqganConfig { Channels = c, EmbedDim = parse.GetValue(embedDim), CodebookSize = parse.GetValue(codebook), PatchDim = parse.GetValue(patchDim) }
                    : null,
                DecoderFrom = parse.GetValue(decoderFrom),
                FreezeText = parse.GetValue(freezeText),
                InitTextFrom = parse.GetValue(initText),
                InitFrom = parse.GetValue(initFrom),
                CorruptVisible = parse.GetValue(corruptVisible),
                SrSize = parse.GetValue(srSize),
                SrCrop = parse.GetValue(srCrop),
                CropSource = parse.GetValue(cropSource),
                TransformerSize = parse.GetValue(dModel) is { } d ? TransformerSize.Of(d, parse.GetValue(layers), parse.GetValue(mlpDim)) : null,
            };
            return verbs.Train(parse.GetRequiredValue(stage), options);
        });
        return command;
    }

    private static Command ExportWeightsCommand(ITrainerVerbs verbs)
    {
        var stage = Stage("Stage whose models are exported", TrainedStages, defaultValue: null);
        var folders = new StageFolderOptions(ProvenanceSeed);
        var version = Version("Model version label written into provenance.json");
        var command = new Command("export-weights", "Write config.json, weights.safetensors and provenance.json per model into <out>/<stage>/export/<model>/")
        {
            stage, version,
        };
        folders.AddTo(command);
        command.SetAction(parse => verbs.ExportWeights(parse.GetRequiredValue(stage), folders.Bind(parse) with { Version = parse.GetRequiredValue(version) }));
        return command;
    }

    private static Command ExportCommand(ITrainerVerbs verbs)
    {
        var stage = Stage("Stage whose models are exported", [.. TrainedStages, AllStages], AllStages);
        var folders = new StageFolderOptions(ProvenanceSeed);
        var version = Version("Model version N: the models become muse-tiny-<model>/N");
        var repository = new Option<string>("--repository") { Description = "Model repository to write into", DefaultValueFactory = _ => "models/repository" };
        var pipelines = new Option<string>("--pipelines") { Description = "pipelines.json whose pipeline muse-tiny is written once all four models exist (its defaults kept)", DefaultValueFactory = _ => "models/pipelines.json" };
        var pairVersion = new Option<string?>("--pair-version") { Description = "Version of muse-tiny-vqgan and muse-tiny-t5 an exported base or SR names in its manifest (default: --version), for one trained over shipped ones" };
        var command = new Command("export", "export-weights, then ONNX + manifest through Muse.ModelBuilder into the model repository")
        {
            stage, version, repository, pipelines, pairVersion,
        };
        folders.AddTo(command);
        command.SetAction(parse => verbs.Export(
            parse.GetRequiredValue(stage),
            folders.Bind(parse) with { Version = parse.GetRequiredValue(version), PairVersion = parse.GetValue(pairVersion) },
            parse.GetRequiredValue(repository),
            parse.GetRequiredValue(pipelines)));
        return command;
    }

    private static Command ParityFixturesCommand(ITrainerVerbs verbs)
    {
        var stage = Stage("Stage whose fixtures are written", [.. TrainedStages, AllStages], AllStages);
        var folders = new StageFolderOptions("Seed of the held-out scenes the fixtures are made of");
        var version = Version("Model version the fixtures belong to");
        var fixtures = new Option<string>("--fixtures") { Description = "Fixture folder: files go to <fixtures>/muse-tiny-<model>/", DefaultValueFactory = _ => "tests/fixtures" };
        var command = new Command("parity-fixtures", "Run the trained modules on fixed held-out inputs and write the parity fixtures (< 200 KB each)")
        {
            stage, version, fixtures,
        };
        folders.AddTo(command);
        command.SetAction(parse => verbs.ParityFixtures(
            parse.GetRequiredValue(stage),
            folders.Bind(parse) with { Version = parse.GetRequiredValue(version) },
            parse.GetRequiredValue(fixtures)));
        return command;
    }

    private static Command EvaluateCommand(ITrainerVerbs verbs)
    {
        var folders = new StageFolderOptions("Picks the captions (the held-out split of this data seed) and seeds the decoding: image i gets seed S + i, as `muse eval` seeds prompt i");
        var count = Number("--count", "Captions to generate and score", 64);
        var decodingOptions = new DecodingOptions();
        var split = new Option<string>("--split") { Description = "Captions to score: held-out (reported) or train (tells a generalisation gap from a learning one)", DefaultValueFactory = _ => "held-out" };
        split.AcceptOnlyFromAmong("held-out", "train");
        var captionSeed = CaptionSeed();
        var command = new Command(
            "evaluate",
            "Generate images for captions with the trained stages (Muse.Decoding's ParallelDecoder, as served; defaults of pipeline muse-tiny), score them and the VQGAN reconstructions with the scene checker")
        {
            count, split, captionSeed,
        };
        decodingOptions.AddTo(command);
        folders.AddTo(command);
        command.SetAction(parse =>
        {
            var decoding = decodingOptions.Bind(parse) with
            {
                Split = parse.GetValue(split) == "train" ? EvaluationSplit.Train : EvaluationSplit.HeldOut,
                CaptionSeed = parse.GetValue(captionSeed),
            };
            return verbs.Evaluate(folders.Bind(parse), decoding, parse.GetValue(count));
        });
        return command;
    }

    private static Command DecodeParityCommand(ITrainerVerbs verbs)
    {
        var folders = new StageFolderOptions("Picks the held-out captions and seeds the decoding, as in evaluate");
        var count = Number("--count", "Held-out captions to decode", 8);
        var repository = new Option<string?>("--repository") { Description = "Model repository holding the stages' ONNX export (default: <out>/repository, where train --smoke writes it)" };
        var version = Version("Model version of the export (muse-tiny-base/N, muse-tiny-sr/N)");
        var decodingOptions = new DecodingOptions();
        var captionSeed = CaptionSeed();
        var command = new Command(
            "decode-parity",
            "Decode held-out captions through ParallelDecoder with the trained modules (TorchSharp, as evaluate) and with their ONNX export (ONNX Runtime, as served); report token identity and the first step's logit difference (exit 1 beyond 1e-4)")
        {
            count, repository, version, captionSeed,
        };
        decodingOptions.AddTo(command);
        folders.AddTo(command);
        command.SetAction(parse =>
        {
            var options = folders.Bind(parse) with { Version = parse.GetRequiredValue(version) };
            var decoding = decodingOptions.Bind(parse) with { CaptionSeed = parse.GetValue(captionSeed) };
            return verbs.DecodeParity(options, decoding, parse.GetValue(count), parse.GetValue(repository) ?? Path.Combine(options.Out, "repository"));
        });
        return command;
    }

    private static Command ImportCommand(ITrainerVerbs verbs)
    {
        var folders = new StageFolderOptions("Unused (import draws nothing)");
        var version = Version("Model version N to read: muse-tiny-<model>/N");
        var repository = new Option<string>("--repository") { Description = "Model repository to read from", DefaultValueFactory = _ => "models/repository" };
        var pipeline = new Option<string?>("--pipeline") { Description = "Read the versions this pipeline of pipelines.json (beside the repository) serves instead of one --version, e.g. a new SR over an older base" };
        var command = new Command(
            "import",
            "Rebuild the stage folders (vqgan, text+base, sr: configs, spiece.model, weights-only checkpoints) of a shipped model version from its ONNX graphs and manifests, so evaluate and decode-parity run on the served weights")
        {
            version, repository, pipeline,
        };
        folders.AddTo(command);
        command.Validators.Add(result =>
        {
            if (result.GetValue(pipeline) is not null && result.GetResult(version) is { Implicit: false })
            {
                result.AddError("--pipeline names the versions to read; drop --version.");
            }
        });
        command.SetAction(parse => verbs.Import(folders.Bind(parse) with { Version = parse.GetRequiredValue(version) }, parse.GetRequiredValue(repository), parse.GetValue(pipeline)));
        return command;
    }

    private static Command NamesCommand(ITrainerVerbs verbs)
    {
        var model = Stage("Model whose state_dict is listed", ["vqgan", "t5", "base", "sr"], defaultValue: null);
        var smoke = new Option<bool>("--smoke") { Description = "The smoke (tiny) sizes instead of the defaults" };
        var command = new Command("names", "Print state_dict names and shapes: the contract with Muse.ModelBuilder (models/README.md)") { model, smoke };
        command.SetAction(parse => verbs.Names(parse.GetRequiredValue(model), parse.GetValue(smoke)));
        return command;
    }

    // --stage of one verb: its allowed values; required when it has no default.
    private static Option<string> Stage(string description, string[] allowed, string? defaultValue)
    {
        var option = new Option<string>("--stage") { Description = $"{description}: {string.Join(" | ", allowed)}", Required = defaultValue is null };
        if (defaultValue is not null)
        {
            option.DefaultValueFactory = _ => defaultValue;
        }

        option.AcceptOnlyFromAmong(allowed);
        return option;
    }

    private static Option<ulong?> CaptionSeed() => new("--caption-seed")
    {
        Description = "Data seed of the captions (default: --seed); `muse eval --seed S` = --seed S --caption-seed S+1 (its prompts and their seeds)",
    };

    private static Option<string> Version(string description) =>
        new("--version") { Description = description, DefaultValueFactory = _ => Defaults.Version };

    private static Option<T> Number<T>(string name, string description, T defaultValue) =>
        new(name) { Description = description, DefaultValueFactory = _ => defaultValue };

    private static int[]? ParseChannels(ArgumentResult result)
    {
        var text = result.Tokens[0].Value;
        var parts = text.Split(',');
        var channels = new int[parts.Length];
        for (var i = 0; i < parts.Length; i++)
        {
            if (!int.TryParse(parts[i], NumberStyles.None, CultureInfo.InvariantCulture, out channels[i]) || channels[i] == 0)
            {
                result.AddError($"--channels '{text}': expected positive integers separated by commas, e.g. 16,24,32,48.");
                return null;
            }
        }

        return channels;
    }

    private static void RequireWith(CommandResult result, Option main, params Option[] refinements)
    {
        if (result.GetResult(main) is not null)
        {
            return;
        }

        foreach (var refinement in refinements)
        {
            if (result.GetResult(refinement) is { Implicit: false })
            {
                result.AddError($"{refinement.Name} needs {main.Name}.");
            }
        }
    }

    /// <summary>The decoding settings of <see cref="EvaluationDecoding"/> (all but the split). One instance per command.</summary>
    private sealed class DecodingOptions
    {
        private readonly Option<int> _baseSteps = Number("--base-steps", "Parallel decoding steps of the base transformer", DecodingDefaults.BaseSteps);
        private readonly Option<int> _srSteps = Number("--sr-steps", "Parallel decoding steps of the super-resolution transformer", DecodingDefaults.SrSteps);
        private readonly Option<float> _guidance = Number("--guidance", "Classifier-free guidance scale; 1 = no guidance", DecodingDefaults.GuidanceScale);
        private readonly Option<string> _guidanceSchedule = GuidanceScheduleOption();
        private readonly Option<float> _choiceTemperature = Number("--choice-temperature", "Gumbel temperature of confidence re-masking", DecodingDefaults.ChoiceTemperature);
        private readonly Option<float> _temperature = Number("--temperature", "Sampling temperature of the base transformer; 0 = greedy", DecodingDefaults.SamplingTemperature);
        private readonly Option<float> _srTemperature = Number("--sr-temperature", "Sampling temperature of the super-resolution transformer; 0 = greedy", DecodingDefaults.SrSamplingTemperature);

        public void AddTo(Command command)
        {
            Option[] all = [_baseSteps, _srSteps, _guidance, _guidanceSchedule, _choiceTemperature, _temperature, _srTemperature];
            foreach (var option in all)
            {
                command.Options.Add(option);
            }
        }

        public EvaluationDecoding Bind(ParseResult parse) => new()
        {
            BaseSteps = parse.GetValue(_baseSteps),
            SrSteps = parse.GetValue(_srSteps),
            GuidanceScale = parse.GetValue(_guidance),
            GuidanceSchedule = parse.GetValue(_guidanceSchedule) == "linear" ? GuidanceSchedule.Linear : GuidanceSchedule.Constant,
            ChoiceTemperature = parse.GetValue(_choiceTemperature),
            SamplingTemperature = parse.GetValue(_temperature),
            SrSamplingTemperature = parse.GetValue(_srTemperature),
        };

        private static Option<string> GuidanceScheduleOption()
        {
            var option = new Option<string>("--guidance-schedule")
            {
                Description = "How the guidance scale varies over the steps (linear: 1 at the first step to the scale at the last, as the pipeline's LINEAR)",
                DefaultValueFactory = _ => "constant",
            };
            option.AcceptOnlyFromAmong("constant", "linear");
            return option;
        }
    }

    /// <summary>--out, --seed and --threads: every verb reads or writes stage folders. One instance per command.</summary>
    private sealed class StageFolderOptions(string seedDescription)
    {
        private readonly Option<string> _out = new("--out") { Description = "Root of the stage folders, one folder per stage below it", DefaultValueFactory = _ => Defaults.Out };
        private readonly Option<ulong> _seed = new("--seed") { Description = seedDescription, DefaultValueFactory = _ => Defaults.Seed };
        private readonly Option<int> _threads = new("--threads") { Description = "Worker threads of libtorch", DefaultValueFactory = _ => Defaults.Threads };

        public void AddTo(Command command)
        {
            command.Options.Add(_out);
            command.Options.Add(_seed);
            command.Options.Add(_threads);
        }

        public TrainOptions Bind(ParseResult parse) => new()
        {
            Out = parse.GetRequiredValue(_out),
            Seed = parse.GetValue(_seed),
            Threads = parse.GetValue(_threads),
        };
    }
}
