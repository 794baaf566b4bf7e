using System.CommandLine;
using System.Globalization;
using Muse.ModelBuilder;
using Muse.ModelBuilder.Architectures;
using Muse.ModelBuilder.Graphs;
using Spectre.Console;

namespace Muse.Cli;

/// <summary>
/// <c>muse models build-random CONFIG --out DIR</c>: a paper-sized model set with seeded random weights
/// (<see cref="FullSizeModelSet"/>), written into a model repository with its pipeline, one tensor in memory at a time.
/// </summary>
internal static class BuildRandomCommand
{
    public static Command Create()
    {
        var config = new Argument<string>("CONFIG") { Description = $"One of: {string.Join(", ", FullSizeModelSet.Configs.Keys)}" };
        config.AcceptOnlyFromAmong([.. FullSizeModelSet.Configs.Keys]);
        var output = new Option<DirectoryInfo>("--out") { Description = "Model repository folder; pipelines.json goes next to it", Required = true };
        var pipelines = new Option<FileInfo?>("--pipelines") { Description = "pipelines.json to update (default: next to the repository folder)" };
        var textEncoder = new Option<string>("--text-encoder") { Description = "t5-xxl (the paper's, 19 GB in fp32) or t5-large (1.4 GB, for CPU runs)", DefaultValueFactory = _ => "t5-xxl" };
        textEncoder.AcceptOnlyFromAmong("t5-xxl", "t5-large");
        var dtype = new Option<string>("--dtype") { Description = "Weight storage: fp32, or fp16 (half the files; arithmetic stays fp32)", DefaultValueFactory = _ => "fp32" };
        dtype.AcceptOnlyFromAmong("fp32", "fp16");
        var maxFile = new Option<long>("--max-file-mb") { Description = "Cap of each external data file in MiB", DefaultValueFactory = _ => ExternalDataWriter.DefaultMaxFileBytes >> 20 };
        var seed = new Option<ulong>("--seed") { Description = "Seed of every weight", DefaultValueFactory = _ => 1 };
        var command = new Command("build-random", "Write a paper-sized model set with seeded random weights and its pipeline")
        {
            config, output, pipelines, textEncoder, dtype, maxFile, seed,
        };
        command.SetAction(parseResult =>
        {
            var set = FullSizeModelSet.Configs[parseResult.GetRequiredValue(config)];
            var repository = parseResult.GetRequiredValue(output).FullName.TrimEnd(Path.DirectorySeparatorChar);
            var pipelinesPath = parseResult.GetValue(pipelines)?.FullName ?? Path.Combine(Path.GetDirectoryName(repository)!, "pipelines.json");
            var shape = parseResult.GetValue(textEncoder) == "t5-large" ? TextEncoderShape.T5Large : TextEncoderShape.T5Xxl;
            var storage = new WeightStorage(
                parseResult.GetValue(dtype) == "fp16" ? WeightPrecision.Fp16 : WeightPrecision.Fp32,
                parseResult.GetValue(maxFile) << 20);
            if (shape == TextEncoderShape.T5Xxl)
            {
                AnsiConsole.MarkupLine("[yellow]The T5-XXL encoder takes 19 GB in memory once loaded (fp32, fp16 files included): it is meant for a GPU or a large host. For CPU runs on smaller machines build with --text-encoder t5-large.[/]");
            }

            var results = FullSizeModelSet.Write(
                set, repository, pipelinesPath, shape, storage, parseResult.GetValue(seed),
                id => AnsiConsole.MarkupLine($"[grey]writing {Markup.Escape(id)}…[/]"));
            var table = new Table().Border(TableBorder.Rounded).AddColumns("model", "stage", "parameters", "in memory (fp32)", "files");
            foreach (var result in results)
            {
                var architecture = Muse.ModelBuilder.Architectures.ArchitectureConfig.Parse(result.Manifest.Architecture!.Value.GetRawText());
                table.AddRow(
                    Markup.Escape(result.Manifest.Id),
                    result.Manifest.Stage,
                    (TransformerFlops.Parameters(architecture) / 1e6).ToString("0.0", CultureInfo.InvariantCulture) + " M",
                    Gib(result.Manifest.WeightBytes),
                    Markup.Escape(string.Join(", ", result.Files)));
            }

            AnsiConsole.Write(table);
            AnsiConsole.MarkupLine($"Pipeline [bold]{set.Name}[/] written to {Markup.Escape(pipelinesPath)}.");
            return 0;
        });
        return command;
    }

    private static string Gib(long bytes) => (bytes / (double)(1L << 30)).ToString("0.00", CultureInfo.InvariantCulture) + " GiB";
}
