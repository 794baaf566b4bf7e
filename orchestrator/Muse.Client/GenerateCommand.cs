using System.CommandLine;
using Muse.Protos.V1;
using Spectre.Console;

namespace Muse.Client;

/// <summary><c>muse generate "PROMPT"</c>: one Generate call, a progress bar per stage, the PNG written to a file.</summary>
public static class GenerateCommand
{
    public static Command Create()
    {
        var prompt = new Argument<string>("prompt") { Description = "What to draw, e.g. \"a large red circle on the left\"" };
        var shared = new ImageRequestOptions();
        var previewEvery = new Option<int>("--preview-every") { Description = "Save a preview PNG every n steps of each stage next to the output; 0 = none", DefaultValueFactory = _ => 0 };
        var output = new Option<string?>("--out", "-o")
        {
            Description = "Output file (default: muse-<seed>.<format> in the current directory); several images are written as NAME-0.png, NAME-1.png, …",
        };
        var connection = new ConnectionOptions();
        var numImages = new Option<int>("--num-images", "-n") { Description = "Images to generate together, 1 to 16, each with its own seed", DefaultValueFactory = _ => 1 };
        var grid = new Option<bool>("--grid") { Description = "Write one contact sheet of all images instead of one file per image" };
        var format = new Option<string>("--format") { Description = "Image format", DefaultValueFactory = _ => "png" };
        format.AcceptOnlyFromAmong("png", "jpeg", "webp");
        var quality = new Option<int?>("--quality") { Description = "JPEG/WebP quality, 1 to 100 (default 90)" };
        var json = new Option<bool>("--json") { Description = "Print the summary as JSON on stdout (everything else goes to stderr)" };

        var command = new Command("generate", "Generate an image from a text prompt") { prompt };
        shared.AddTo(command);
        foreach (var option in new Option[] { previewEvery, output, numImages, grid, format, quality, json })
        {
            command.Options.Add(option);
        }

        connection.AddTo(command);

        command.SetAction((parseResult, cancellationToken) =>
        {
            var request = new GenerateRequest
            {
                Prompt = parseResult.GetRequiredValue(prompt),
                NegativePrompt = shared.NegativePrompt(parseResult),
                Pipeline = shared.Pipeline(parseResult),
                Decoding = shared.Decoding(parseResult),
                PreviewEvery = parseResult.GetValue(previewEvery),
                NumImages = parseResult.GetValue(numImages),
                OutputFormat = ParseFormat(parseResult.GetValue(format)),
            };
            // Unset options stay unset in the request, so the server applies the pipeline's defaults.
            ImageRequestOptions.SetIfGiven(shared.Seed(parseResult), v => request.Seed = v);
            ImageRequestOptions.SetIfGiven(parseResult.GetValue(quality), v => request.Quality = v);
            var outputOptions = new OutputOptions(parseResult.GetValue(output), parseResult.GetValue(grid), parseResult.GetValue(json));
            return CommandRunner.RunAsync(
                ct => RunAsync(request, outputOptions, connection.Read(parseResult), ct),
                cancellationToken);
        });
        return command;
    }

    private static async Task<int> RunAsync(GenerateRequest request, OutputOptions output, ConnectionTarget target, CancellationToken cancellationToken)
    {
        if (output.Json)
        {
            // Scripts read stdout: only the JSON goes there.
            AnsiConsole.Console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        }

        var run = await RunAndWriteAsync(request, output, target, cancellationToken);
        ImageCall.Report(run, output.Json);
        return 0;
    }

    /// <summary>Runs one Generate call with progress on the console and writes its images; prints no summary.</summary>
    internal static Task<GenerationRun> RunAndWriteAsync(
        GenerateRequest request, OutputOptions output, ConnectionTarget target, CancellationToken cancellationToken) =>
        ImageCall.RunAsync(
            target,
            (client, ct) => client.Generate(request, cancellationToken: ct),
            "request",
            output with { Format = request.OutputFormat, Quality = request.Quality },
            cancellationToken);

    private static ImageFormat ParseFormat(string? format) => format switch
    {
        "jpeg" => ImageFormat.Jpeg,
        "webp" => ImageFormat.Webp,
        _ => ImageFormat.Png,
    };
}
