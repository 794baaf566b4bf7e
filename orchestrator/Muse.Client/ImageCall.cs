using System.Globalization;
using Grpc.Core;
using Muse.Protos.V1;
using Spectre.Console;
using MuseClient = Muse.Protos.V1.Muse.MuseClient;

namespace Muse.Client;

/// <summary>
/// One Generate or Edit call on the console, for every command that makes one (generate, inpaint, outpaint, edit,
/// reproduce): both stream the same events, so one loop shows them — the accepted request, its queue position, a
/// progress bar per stage (and per round of mask-free editing) — writes previews and images, and one summary ends it.
/// </summary>
internal static class ImageCall
{
    /// <summary>
    /// Connects to <paramref name="target"/> (or a local cluster), makes the call <paramref name="start"/> opens,
    /// shows its events and writes its images; prints no summary. <paramref name="what"/> names the request in the
    /// accepted line ("request", "inpaint", …).
    /// </summary>
    public static async Task<GenerationRun> RunAsync(
        ConnectionTarget target,
        Func<MuseClient, CancellationToken, AsyncServerStreamingCall<GenerateEvent>> start,
        string what,
        OutputOptions output,
        CancellationToken cancellationToken)
    {
        await using var connection = await MuseConnection.OpenAsync(target, cancellationToken);
        using var call = start(connection.Client, cancellationToken);

        Accepted? accepted = null;
        Result? result = null;
        string? outputPath = null;
        var stepsByStage = new Dictionary<string, int>(StringComparer.Ordinal);
        async Task ReadEventsAsync(Action<Protos.V1.Progress> onProgress)
        {
            await foreach (var imageEvent in call.ResponseStream.ReadAllAsync(cancellationToken))
            {
                switch (imageEvent.EventCase)
                {
                    case GenerateEvent.EventOneofCase.Accepted:
                        accepted = imageEvent.Accepted;
                        outputPath = Path.GetFullPath(output.Path ?? output.DefaultName?.Invoke(accepted.Seed) ?? $"muse-{accepted.Seed}.{Extension(output.Format)}");
                        RenderAccepted(accepted, what);
                        break;
                    case GenerateEvent.EventOneofCase.Queued:
                        AnsiConsole.MarkupLineInterpolated(
                            $"[grey]queued: position {imageEvent.Queued.Position} (queue holds {imageEvent.Queued.Capacity})[/]");
                        break;
                    case GenerateEvent.EventOneofCase.Progress:
                        var step = imageEvent.Progress;
                        stepsByStage[step.Stage] = step.Steps;
                        onProgress(step);
                        if (step.PreviewPng.Length > 0 && outputPath is not null)
                        {
                            var round = step.Rounds > 0 ? $"r{step.Round:00}-" : "";
                            var previewPath = Path.ChangeExtension(outputPath, $"{round}{step.Stage}-{step.Step:00}.png");
                            await File.WriteAllBytesAsync(previewPath, step.PreviewPng.Memory, cancellationToken);
                        }

                        break;
                    case GenerateEvent.EventOneofCase.Result:
                        result = imageEvent.Result;
                        break;
                }
            }
        }

        if (AnsiConsole.Profile.Capabilities.Interactive)
        {
            await AnsiConsole.Progress()
                .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
                .StartAsync(async progress =>
                {
                    // One bar per stage, and per round in mask-free editing; created as the events arrive.
                    var bars = new Dictionary<(int, string), ProgressTask>();
                    await ReadEventsAsync(step =>
                    {
                        if (!bars.TryGetValue((step.Round, step.Stage), out var bar))
                        {
                            bar = bars[(step.Round, step.Stage)] = progress.AddTask(Describe(step));
                        }

                        Advance(bar, step);
                    });
                });
        }
        else
        {
            // Pipes and logs get one plain line per step instead of redrawn bars.
            await ReadEventsAsync(step => AnsiConsole.WriteLine(Describe(step)));
        }

        if (result is null || outputPath is null || accepted is null)
        {
            throw new InvalidOperationException("The call's stream ended without an accepted event and a result.");
        }

        // Servers from before batches send only the single-image fields.
        var images = result.Images.Count > 0
            ? result.Images.ToList()
            : [new GeneratedImage { Image = result.Image, Seed = result.Seed, Width = result.Width, Height = result.Height, Format = output.Format }];
        var paths = new List<string>();
        if (output.Grid && images.Count > 1)
        {
            await File.WriteAllBytesAsync(outputPath, ContactSheet.Compose(images, output.Format, output.Quality > 0 ? output.Quality : 90), cancellationToken);
            paths.Add(outputPath);
        }
        else
        {
            for (var k = 0; k < images.Count; k++)
            {
                var path = images.Count == 1 ? outputPath : NumberedPath(outputPath, k);
                await File.WriteAllBytesAsync(path, images[k].Image.Memory, cancellationToken);
                paths.Add(path);
            }
        }

        return new GenerationRun(accepted, result, images, paths, stepsByStage);
    }

    /// <summary>The end-of-command summary: a table, or JSON on stdout.</summary>
    public static void Report(GenerationRun run, bool json, IReadOnlyDictionary<string, string>? extra = null)
    {
        if (json)
        {
            Console.Out.WriteLine(RunSummary.ToJson(run, extra));
        }
        else
        {
            RenderSummary(run, extra);
        }
    }

    /// <summary><c>out.png</c> → <c>out-3.png</c>.</summary>
    public static string NumberedPath(string path, int index) =>
        Path.Combine(Path.GetDirectoryName(path) ?? "", $"{Path.GetFileNameWithoutExtension(path)}-{index}{Path.GetExtension(path)}");

    /// <summary>The file extension of an image format, without the dot.</summary>
    public static string Extension(ImageFormat format) => format switch
    {
        ImageFormat.Jpeg => "jpg",
        ImageFormat.Webp => "webp",
        _ => "png",
    };

    private static void Advance(ProgressTask bar, Protos.V1.Progress step)
    {
        if (!bar.IsStarted)
        {
            bar.StartTask();
        }

        bar.MaxValue = Math.Max(step.Steps, 1);
        bar.Value = step.Step;
        bar.Description = Describe(step);
        if (step.Step >= step.Steps)
        {
            bar.StopTask();
        }
    }

    private static string Describe(Protos.V1.Progress step) =>
        (step.Rounds > 0 ? $"round {step.Round}/{step.Rounds} " : "")
        + $"{step.Stage,-4} step {step.Step}/{step.Steps}, {step.MaskedTokens}/{step.TotalTokens} masked";

    private static void RenderAccepted(Accepted accepted, string what)
    {
        AnsiConsole.MarkupLineInterpolated($"[bold]Accepted[/] {what} [blue]{accepted.RequestId}[/], pipeline [blue]{accepted.Pipeline}[/], seed [blue]{accepted.Seed}[/]");
        foreach (var model in accepted.Models)
        {
            AnsiConsole.MarkupLineInterpolated($"  {model.Stage,-16} {model.Name}/{model.Version}");
        }
    }

    private static void RenderSummary(GenerationRun run, IReadOnlyDictionary<string, string>? extra)
    {
        var result = run.Result;
        var table = new Table().Border(TableBorder.Rounded).AddColumn("").AddColumn("");
        table.ShowHeaders = false;
        table.AddRow("request", Markup.Escape(result.RequestId));
        table.AddRow("pipeline", Markup.Escape(run.Accepted.Pipeline));
        table.AddRow("seed", result.Seed.ToString(CultureInfo.InvariantCulture));
        if (run.Images.Count > 1)
        {
            table.AddRow("image seeds", string.Join(", ", run.Images.Select(i => i.Seed.ToString(CultureInfo.InvariantCulture))));
        }

        table.AddRow("steps", $"base {Steps("base")}, sr {Steps("sr")}");
        foreach (var model in result.Models)
        {
            table.AddRow(Markup.Escape(model.Stage), Markup.Escape($"{model.Name}/{model.Version}"));
        }

        foreach (var timing in result.Timings)
        {
            table.AddRow(Markup.Escape($"time {timing.Stage}"), FormatMilliseconds(timing.Milliseconds));
        }

        table.AddRow("image", $"{run.Images.Count} × {result.Width}×{result.Height} px");
        table.AddRow("output", Markup.Escape(string.Join(Environment.NewLine, run.Paths)));
        foreach (var (key, value) in extra ?? new Dictionary<string, string>())
        {
            table.AddRow(Markup.Escape(key), Markup.Escape(value));
        }

        AnsiConsole.Write(table);

        string Steps(string stage) =>
            run.StepsByStage.TryGetValue(stage, out var seen) ? seen.ToString(CultureInfo.InvariantCulture) : "default";
    }

    private static string FormatMilliseconds(double milliseconds) => milliseconds >= 1000
        ? string.Create(CultureInfo.InvariantCulture, $"{milliseconds / 1000:0.00} s")
        : string.Create(CultureInfo.InvariantCulture, $"{milliseconds:0} ms");
}
