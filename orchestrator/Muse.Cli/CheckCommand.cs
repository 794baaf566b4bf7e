using System.CommandLine;
using System.Text.Json;
using Muse.Client;
using Muse.Imaging;
using Muse.Scenes;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using Spectre.Console;

namespace Muse.Cli;

/// <summary>
/// <c>muse check IMAGE</c>: reads the prompt from the image's <c>muse:parameters</c> (or <c>--prompt</c>) and asks the
/// scene checker (Muse.Scenes) whether the image shows it, so any client's output (the web page's download, a Python
/// or curl result) can be judged the way <c>muse eval</c> judges the pipeline. Exit code 0 when every attribute the
/// caption names is found, 1 when not, or when the file carries no parameters or its prompt is no scene caption.
/// </summary>
internal static class CheckCommand
{
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

    public static Command Create()
    {
        var image = new Argument<string>("image") { Description = "An image written by Muse (square, PNG with muse:parameters unless --prompt is given)" };
        var prompt = new Option<string?>("--prompt") { Description = "The caption to check against (default: the prompt stored in the image)" };
        var json = new Option<bool>("--json") { Description = "Print the verdict, the stored parameters and what was detected as JSON" };
        var command = new Command("check", "Check an image against its prompt with the scene checker of the synthetic scenes") { image, prompt, json };
        command.SetAction((parseResult, cancellationToken) => CommandRunner.RunAsync(
            ct => RunAsync(parseResult.GetRequiredValue(image), parseResult.GetValue(prompt), parseResult.GetValue(json), ct),
            cancellationToken));
        return command;
    }

    private static async Task<int> RunAsync(string path, string? prompt, bool json, CancellationToken ct)
    {
        var bytes = await File.ReadAllBytesAsync(path, ct);
        var parameters = prompt is null ? GenerationParameters.Read(bytes) : null;
        var caption = prompt ?? parameters!.Prompt;
        var expected = Captions.Parse(caption);
        using var pixels = Image.Load<Rgb24>(bytes);
        if (pixels.Width != pixels.Height)
        {
            throw new InvalidDataException($"The scene checker needs a square image; {path} is {pixels.Width}×{pixels.Height}.");
        }

        var rgb = new byte[pixels.Width * pixels.Height * 3];
        pixels.CopyPixelDataTo(rgb);
        var result = SceneChecker.Check(rgb, pixels.Width, expected);
        if (json)
        {
            Console.Out.WriteLine(JsonSerializer.Serialize(
                new
                {
                    Prompt = caption,
                    result.AllCorrect,
                    result.Background,
                    result.Relation,
                    result.ObjectCount,
                    Objects = result.Objects.Select(o => new { o.Colour, o.Shape, o.Position, o.Size, o.AllCorrect, Detected = o.Detected?.ToString() }),
                    Parameters = parameters,
                },
                Json));
        }
        else
        {
            AnsiConsole.MarkupLine($"\"{Markup.Escape(caption)}\": {(result.AllCorrect ? "[green]matches[/]" : "[red]does not match[/]")}");
            var detected = string.Join("; ", result.Analysis.Objects.Select(o => $"{o.Colour} {o.Size?.ToString() ?? "neither-size"} {o.Shape} at {o.Position}"));
            AnsiConsole.MarkupLineInterpolated(
                $"[grey]background {Verdict(result.Background)}, objects found {Verdict(result.ObjectCount)}, relation {Verdict(result.Relation)}; detected: {detected}[/]");
        }

        return result.AllCorrect ? 0 : CommandRunner.Failed;
    }

    private static string Verdict(bool? ok) => ok switch { true => "✓", false => "✗", null => "–" };
}
