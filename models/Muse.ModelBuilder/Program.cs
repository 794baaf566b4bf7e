using System.CommandLine;
using System.Text.Json;
using Muse.ModelBuilder;
using Muse.ModelBuilder.Architectures;
using Muse.ModelBuilder.SentencePiece;
using Muse.ModelBuilder.Weights;
using Muse.Repository;

// muse-modelbuilder random | export: see models/README.md, "Muse.ModelBuilder".
var root = new RootCommand("Writes ONNX models of the Muse architectures into a model repository.")
{
    RandomCommand(),
    ExportCommand(),
};
return root.Parse(args).Invoke();

static Command RandomCommand()
{
    var output = new Option<DirectoryInfo>("--out") { Description = "Model repository, e.g. models/repository.", Required = true };
    var seed = new Option<ulong>("--seed") { Description = "Seed of every weight.", DefaultValueFactory = _ => 1 };
    var pipelines = new Option<FileInfo?>("--pipelines") { Description = "pipelines.json to update (default: next to the repository folder)." };
    var vocabulary = new Option<FileInfo?>("--vocabulary") { Description = "Tokenizer words, one per line (default: the caption words)." };
    var command = new Command("random", "Write the seeded random fixture set muse-random-* and its pipeline.") { output, seed, pipelines, vocabulary };
    command.SetAction(parse => Guarded(() =>
    {
        var repository = parse.GetRequiredValue(output).FullName;
        var pipelinesPath = parse.GetValue(pipelines)?.FullName ?? Path.Combine(Path.GetDirectoryName(repository.TrimEnd(Path.DirectorySeparatorChar))!, "pipelines.json");
        var words = parse.GetValue(vocabulary) is { } file ? ReadWords(file.FullName) : null;
        foreach (var result in RandomModelSet.Write(repository, pipelinesPath, parse.GetValue(seed), words))
        {
            Console.WriteLine($"{result.Manifest.Id}: {string.Join(", ", result.Files)}");
        }

        Console.WriteLine($"Updated {pipelinesPath} (pipeline {RandomModelSet.PipelineName}).");
        return 0;
    }));
    return command;
}

static Command ExportCommand()
{
    var config = new Option<FileInfo>("--config") { Description = "Architecture config.json.", Required = true };
    var weights = new Option<FileInfo>("--weights") { Description = "weights.safetensors (PyTorch layout).", Required = true };
    var stage = new Option<string>("--stage") { Description = "text_encoder | image_tokenizer | base | sr.", Required = true };
    stage.AcceptOnlyFromAmong(Stages.TextEncoder, Stages.ImageTokenizer, Stages.Base, Stages.SuperResolution);
    var name = new Option<string>("--name") { Description = "Model name.", Required = true };
    var version = new Option<string>("--version") { Description = "Version label.", Required = true };
    var output = new Option<DirectoryInfo>("--out") { Description = "Model repository; the model goes to <out>/<name>/<version>.", Required = true };
    var tokenizer = new Option<FileInfo?>("--tokenizer") { Description = "Text encoder: an existing spiece.model." };
    var vocabulary = new Option<FileInfo?>("--vocabulary") { Description = "Text encoder: words (one per line) to build spiece.model from." };
    var imageTokenizer = new Option<string>("--image-tokenizer") { Description = "Transformers: name/version of the image tokenizer.", DefaultValueFactory = _ => "" };
    var textEncoder = new Option<string>("--text-encoder") { Description = "Transformers: name/version of the text encoder.", DefaultValueFactory = _ => "" };
    var description = new Option<string>("--description") { Description = "Manifest description.", DefaultValueFactory = _ => "" };
    var provenance = new Option<FileInfo?>("--provenance") { Description = "Provenance JSON (source, seed, datasetHash, trainingSteps, trainingSeconds, metrics)." };
    var trained = new Option<bool>("--trained") { Description = "Whether the weights are trained.", DefaultValueFactory = _ => true };
    var command = new Command("export", "Export trained weights of one stage as ONNX plus manifest.")
    {
        config, weights, stage, name, version, output, tokenizer, vocabulary, imageTokenizer, textEncoder, description, provenance, trained,
    };
    command.SetAction(parse => Guarded(() =>
    {
        byte[]? spiece = null;
        if (parse.GetValue(tokenizer) is { } tokenizerFile)
        {
            spiece = File.ReadAllBytes(tokenizerFile.FullName);
        }
        else if (parse.GetValue(vocabulary) is { } vocabularyFile)
        {
            spiece = SentencePieceModelWriter.Build(ReadWords(vocabularyFile.FullName));
        }

        var isTrained = parse.GetValue(trained);
        var origin = parse.GetValue(provenance) is { } provenanceFile
            ? JsonSerializer.Deserialize<Provenance>(File.ReadAllText(provenanceFile.FullName), ModelManifest.JsonOptions) ?? new Provenance()
            : new Provenance { Source = isTrained ? "trained" : "random" };
        var result = ModelExporter.Export(new ExportRequest
        {
            Stage = parse.GetRequiredValue(stage),
            Name = parse.GetRequiredValue(name),
            Version = parse.GetRequiredValue(version),
            Config = ArchitectureConfig.Load(parse.GetRequiredValue(config).FullName),
            Weights = Safetensors.Read(parse.GetRequiredValue(weights).FullName),
            Provenance = origin,
            Trained = isTrained,
            Description = parse.GetRequiredValue(description),
            TokenizerModel = spiece,
            ImageTokenizer = parse.GetRequiredValue(imageTokenizer),
            TextEncoder = parse.GetRequiredValue(textEncoder),
        }, parse.GetRequiredValue(output).FullName);
        Console.WriteLine($"{result.Manifest.Id}: {result.Directory} ({string.Join(", ", result.Files)})");
        return 0;
    }));
    return command;
}

// Bad input (weights that do not fit the config, a stage that does not fit the architecture, unreadable
// files) is reported in one line with exit code 1; anything else is a bug and keeps its stack trace.
static int Guarded(Func<int> action)
{
    try
    {
        return action();
    }
    catch (Exception e) when (e is InvalidDataException or IOException or ArgumentException or JsonException or UnauthorizedAccessException)
    {
        Console.Error.WriteLine($"error: {e.Message}");
        return 1;
    }
}

static List<string> ReadWords(string path) =>
    [.. File.ReadAllLines(path).Select(line => line.Trim()).Where(line => line.Length > 0 && !line.StartsWith('#'))];
