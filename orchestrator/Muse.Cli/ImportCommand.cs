using System.CommandLine;
using Muse.Client;
using Muse.ModelBuilder.Amused;
using Muse.ModelBuilder.Graphs;

namespace Muse.Cli;

/// <summary>
/// <c>muse models import amused DIR --out REPO --name NAME [--version V] [--pipelines FILE]</c>: a downloaded aMUSEd
/// folder (diffusers layout) into a model repository as ONNX graphs with manifests, plus pipeline NAME in the
/// repository's pipelines.json (created if missing). Reads nothing from the network.
/// </summary>
internal static class ImportCommand
{
    public static Command Create()
    {
        var command = new Command("import", "Import open weights into a model repository");
        command.Subcommands.Add(Amused());
        command.Subcommands.Add(RandomAmused());
        return command;
    }

    private static Command Amused()
    {
        var folder = new Argument<DirectoryInfo>("dir") { Description = "The aMUSEd folder: text_encoder/, tokenizer/, transformer/, vqvae/" };
        var output = new Option<DirectoryInfo>("--out") { Description = "Model repository to write into, e.g. models/repository", Required = true };
        var name = new Option<string>("--name") { Description = "Pipeline name; the models are NAME-clip, NAME-vqgan, NAME-base", Required = true };
        var version = new Option<string>("--version") { Description = "Version label of the three models", DefaultValueFactory = _ => "1" };
        var pipelines = new Option<FileInfo?>("--pipelines") { Description = "pipelines.json to update (default: beside the repository folder)" };
        var maxFile = new Option<long>("--max-file-mb") { Description = "Cap of each external data file in MiB", DefaultValueFactory = _ => ExternalDataWriter.DefaultMaxFileBytes >> 20 };
        var command = new Command("amused", "Import an aMUSEd checkpoint (amused-256 or amused-512) as a pipeline without super-resolution")
        {
            folder, output, name, version, pipelines, maxFile,
        };
        command.SetAction((parseResult, cancellationToken) => CommandRunner.RunAsync(_ =>
        {
            var repository = parseResult.GetRequiredValue(output).FullName.TrimEnd(Path.DirectorySeparatorChar);
            var pipelinesPath = parseResult.GetValue(pipelines)?.FullName ?? Path.Combine(Path.GetDirectoryName(repository)!, "pipelines.json");
            var pipeline = parseResult.GetRequiredValue(name);
            foreach (var result in AmusedImporter.Import(parseResult.GetRequiredValue(folder).FullName, repository, pipelinesPath, pipeline,
                parseResult.GetRequiredValue(version), parseResult.GetValue(maxFile) << 20))
            {
                Console.WriteLine($"{result.Manifest.Id}: {string.Join(", ", result.Files)}");
            }

            Console.WriteLine($"Updated {pipelinesPath} (pipeline {pipeline}).");
            return Task.FromResult(0);
        }, cancellationToken));
        return command;
    }

    // Development verb: a seeded random checkpoint of a published aMUSEd's shapes, to measure import and serving at size.
    private static Command RandomAmused()
    {
        var folder = new Argument<DirectoryInfo>("dir") { Description = "Folder to write the checkpoint into" };
        var size = new Option<string>("--shapes") { Description = "amused-512 | amused-256", DefaultValueFactory = _ => "amused-512" };
        size.AcceptOnlyFromAmong([.. AmusedRandomCheckpoint.Presets.Keys]);
        var tokenizer = new Option<DirectoryInfo>("--tokenizer") { Description = "CLIP tokenizer folder to copy (vocab.json, merges.txt)", Required = true };
        var seed = new Option<ulong>("--seed") { Description = "Seed of every weight", DefaultValueFactory = _ => 1 };
        var command = new Command("random-amused", "Write a seeded random aMUSEd checkpoint of the published shapes (diffusers layout)")
        {
            folder, size, tokenizer, seed,
        };
        command.Hidden = true;
        command.SetAction((parseResult, cancellationToken) => CommandRunner.RunAsync(_ =>
        {
            var target = parseResult.GetRequiredValue(folder).FullName;
            var bytes = AmusedRandomCheckpoint.Write(target, AmusedRandomCheckpoint.Presets[parseResult.GetRequiredValue(size)],
                parseResult.GetRequiredValue(tokenizer).FullName, parseResult.GetValue(seed));
            Console.WriteLine($"{target}: {bytes / 1e9:F2} GB of float32 safetensors.");
            return Task.FromResult(0);
        }, cancellationToken));
        return command;
    }
}
