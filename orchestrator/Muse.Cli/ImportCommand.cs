using System.CommandLine;
using Muse.Client;
using Muse.ModelBuilder.Amused;

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
        return command;
    }

    private static Command Amused()
    {
        var folder = new Argument<DirectoryInfo>("dir") { Description = "The aMUSEd folder: text_encoder/, tokenizer/, transformer/, vqvae/" };
        var output = new Option<DirectoryInfo>("--out") { Description = "Model repository to write into, e.g. models/repository", Required = true };
        var name = new Option<string>("--name") { Description = "Pipeline name; the models are NAME-clip, NAME-vqgan, NAME-base", Required = true };
        var version = new Option<string>("--version") { Description = "Version label of the three models", DefaultValueFactory = _ => "1" };
        var pipelines = new Option<FileInfo?>("--pipelines") { Description = "pipelines.json to update (default: beside the repository folder)" };
        var command = new Command("amused", "Import an aMUSEd checkpoint (amused-256 or amused-512) as a pipeline without super-resolution")
        {
            folder, output, name, version, pipelines,
        };
        command.SetAction((parseResult, cancellationToken) => CommandRunner.RunAsync(_ =>
        {
            var repository = parseResult.GetRequiredValue(output).FullName.TrimEnd(Path.DirectorySeparatorChar);
            var pipelinesPath = parseResult.GetValue(pipelines)?.FullName ?? Path.Combine(Path.GetDirectoryName(repository)!, "pipelines.json");
            var pipeline = parseResult.GetRequiredValue(name);
            foreach (var result in AmusedImporter.Import(parseResult.GetRequiredValue(folder).FullName, repository, pipelinesPath, pipeline, parseResult.GetRequiredValue(version)))
            {
                Console.WriteLine($"{result.Manifest.Id}: {string.Join(", ", result.Files)}");
            }

            Console.WriteLine($"Updated {pipelinesPath} (pipeline {pipeline}).");
            return Task.FromResult(0);
        }, cancellationToken));
        return command;
    }
}
