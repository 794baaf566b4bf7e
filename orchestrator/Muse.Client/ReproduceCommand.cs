using System.CommandLine;
using Muse.Imaging;
using Muse.Protos.V1;
using SixLabors.ImageSharp;
using Spectre.Console;

namespace Muse.Client;

/// <summary>
/// <c>muse reproduce IMAGE</c>: regenerates an image from the parameters it carries (prompt, seed, settings, pipeline,
/// model versions pinned) and checks that the new file is byte-identical.
/// </summary>
public static class ReproduceCommand
{
    public static Command Create()
    {
        var image = new Argument<string>("image") { Description = "An image written by Muse (PNG, or JPEG/WebP with EXIF parameters)" };
        var output = new Option<string?>("--out", "-o") { Description = "Where to write the regenerated image (default: IMAGE with .reproduced before the extension)" };
        var quality = new Option<int?>("--quality") { Description = "JPEG/WebP quality of the original, 1 to 100 (default 90); PNG is lossless" };
        var json = new Option<bool>("--json") { Description = "Print the summary as JSON on stdout (everything else goes to stderr)" };
        var connection = new ConnectionOptions();
        var command = new Command("reproduce", "Regenerate an image from the parameters stored inside it and check it is byte-identical")
        {
            image, output, quality, json,
        };
        connection.AddTo(command);
        command.SetAction((parseResult, cancellationToken) => CommandRunner.RunAsync(
            ct => RunAsync(
                parseResult.GetRequiredValue(image), parseResult.GetValue(output), parseResult.GetValue(quality), parseResult.GetValue(json),
                connection.Read(parseResult), ct),
            cancellationToken));
        return command;
    }

    private static async Task<int> RunAsync(string imagePath, string? output, int? quality, bool json, ConnectionTarget target, CancellationToken cancellationToken)
    {
        if (json)
        {
            AnsiConsole.Console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        }

        var original = await File.ReadAllBytesAsync(imagePath, cancellationToken);
        var parameters = GenerationParameters.Read(original);
        var request = parameters.ToRequest();
        request.OutputFormat = Image.DetectFormat(original)?.Name switch
        {
            "JPEG" => ImageFormat.Jpeg,
            "Webp" => ImageFormat.Webp,
            _ => ImageFormat.Png,
        };
        if (quality is { } given)
        {
            request.Quality = given;
        }

        var extension = Path.GetExtension(imagePath);
        output ??= Path.Combine(Path.GetDirectoryName(Path.GetFullPath(imagePath)) ?? "", $"{Path.GetFileNameWithoutExtension(imagePath)}.reproduced{extension}");
        AnsiConsole.MarkupLineInterpolated($"[grey]Reproducing \"{parameters.Prompt}\", seed {parameters.Seed}, pipeline {parameters.Pipeline}[/]");

        var run = await GenerateCommand.RunAndWriteAsync(request, new OutputOptions(output, Grid: false, Json: json), target, cancellationToken);
        var identical = original.AsSpan().SequenceEqual(run.Images[0].Image.Span);
        ImageCall.Report(run, json, new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["reproduces"] = Path.GetFullPath(imagePath),
            ["identical"] = identical ? "yes" : "no",
        });
        if (!identical)
        {
            await Console.Error.WriteLineAsync($"error: the regenerated image differs from {imagePath}.");
            return CommandRunner.Failed;
        }

        return 0;
    }
}
