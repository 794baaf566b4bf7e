using System.CommandLine;
using Muse.Client;
using Muse.Evaluation;
using Spectre.Console;

namespace Muse.Cli;

/// <summary><c>muse showcase</c>: the README's sample grid and before/after edits, made from the shipped models.</summary>
internal static class ShowcaseCommand
{
    public static Command Create()
    {
        var output = new Option<string>("--out") { Description = "Folder for samples.png, edits.png and showcase.md", DefaultValueFactory = _ => "models/showcase" };
        var samples = new Option<int>("--samples") { Description = "Held-out prompts in the sample grid", DefaultValueFactory = _ => 8 };
        var pipeline = new Option<string?>("--pipeline") { Description = "Pipeline (default: the default pipeline)" };
        var command = new Command("showcase", "Make the README's pictures: images for held-out prompts and before/after rows of each edit mode")
        {
            output, samples, pipeline,
        };
        command.SetAction((parseResult, cancellationToken) => CommandRunner.RunAsync(
            async ct =>
            {
                var options = new ShowcaseOptions
                {
                    Out = parseResult.GetValue(output)!,
                    Samples = parseResult.GetValue(samples),
                    Pipeline = parseResult.GetValue(pipeline),
                };
                var result = await Showcase.RunAsync(options, ct);
                AnsiConsole.WriteLine(result.Markdown);
                AnsiConsole.MarkupLineInterpolated($"wrote [bold]{result.SamplesPng}[/], [bold]{result.EditsPng}[/] and showcase.md");
                return 0;
            },
            cancellationToken));
        return command;
    }
}
