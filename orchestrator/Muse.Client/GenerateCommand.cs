using System.CommandLine;
using System.Globalization;
using Grpc.Core;
using Muse.Protos.V1;
using Spectre.Console;

namespace Muse.Client;

/// <summary><c>muse generate "PROMPT"</c>: one Generate call, a progress bar per stage, the PNG written to a file.</summary>
public static class GenerateCommand
{
    private static readonly string[] ProgressStages = ["base", "sr"];

    public static Command Create()
    {
        var prompt = new Argument<string>("prompt") { Description = "What to draw, e.g. \"a large red circle on the left\"" };
        var seed = new Option<ulong?>("--seed") { Description = "Seed of all sampling noise (default: chosen by the server and reported)" };
        var steps = new Option<int?>("--steps") { Description = "Parallel decoding steps of the base model (default: the pipeline's)" };
        var srSteps = new Option<int?>("--sr-steps") { Description = "Parallel decoding steps of the super-resolution model (default: the pipeline's)" };
        var guidance = new Option<float?>("--guidance") { Description = "Classifier-free guidance scale; 1 = no guidance (default: the pipeline's)" };
        var guidanceSchedule = new Option<string>("--guidance-schedule")
        {
            Description = "How the guidance scale varies over the steps",
            DefaultValueFactory = _ => "constant",
        };
        guidanceSchedule.AcceptOnlyFromAmong("constant", "linear");
        var temperature = new Option<float?>("--temperature") { Description = "Sampling temperature of the base model; 0 = greedy (default: the pipeline's)" };
        var srTemperature = new Option<float?>("--sr-temperature") { Description = "Sampling temperature of the super-resolution model; 0 = greedy (default: the pipeline's)" };
        var choiceTemperature = new Option<float?>("--choice-temperature") { Description = "Gumbel temperature of confidence re-masking (default: the pipeline's)" };
        var negative = new Option<string>("--negative") { Description = "Negative prompt: what to steer away from", DefaultValueFactory = _ => "" };
        var pipeline = new Option<string>("--pipeline") { Description = "Pipeline from `muse models` (default: the server's default pipeline)", DefaultValueFactory = _ => "" };
        var previewEvery = new Option<int>("--preview-every") { Description = "Save a preview PNG every n base steps next to the output; 0 = none", DefaultValueFactory = _ => 0 };
        var output = new Option<string?>("--out", "-o")
        {
            Description = "Output file (default: muse-<seed>.<format> in the current directory); several images are written as NAME-0.png, NAME-1.png, …",
        };
        var endpoint = CommonOptions.Endpoint();
        var numImages = new Option<int>("--num-images", "-n") { Description = "Images to generate together, 1 to 16, each with its own seed", DefaultValueFactory = _ => 1 };
        var grid = new Option<bool>("--grid") { Description = "Write one contact sheet of all images instead of one file per image" };
        var format = new Option<string>("--format") { Description = "Image format", DefaultValueFactory = _ => "png" };
        format.AcceptOnlyFromAmong("png", "jpeg", "webp");
        var quality = new Option<int?>("--quality") { Description = "JPEG/WebP quality, 1 to 100 (default 90)" };
        var json = new Option<bool>("--json") { Description = "Print the summary as JSON on stdout (everything else goes to stderr)" };

        var command = new Command("generate", "Generate an image from a text prompt")
        {
            prompt, seed, steps, srSteps, guidance, guidanceSchedule, temperature, srTemperature, choiceTemperature, negative, pipeline,
            previewEvery, output, endpoint, numImages, grid, format, quality, json,
        };
        command.SetAction((parseResult, cancellationToken) =>
        {
            var request = new GenerateRequest
            {
                Prompt = parseResult.GetRequiredValue(prompt),
                NegativePrompt = parseResult.GetValue(negative) ?? "",
                GuidanceSchedule = parseResult.GetValue(guidanceSchedule) == "linear" ? GuidanceSchedule.Linear : GuidanceSchedule.Constant,
                Pipeline = parseResult.GetValue(pipeline) ?? "",
                PreviewEvery = parseResult.GetValue(previewEvery),
                NumImages = parseResult.GetValue(numImages),
                OutputFormat = ParseFormat(parseResult.GetValue(format)),
            };
            // Unset options stay unset in the request, so the server applies the pipeline's defaults.
            SetIfGiven(parseResult.GetValue(seed), v => request.Seed = v);
            SetIfGiven(parseResult.GetValue(steps), v => request.BaseSteps = v);
            SetIfGiven(parseResult.GetValue(srSteps), v => request.SrSteps = v);
            SetIfGiven(parseResult.GetValue(guidance), v => request.GuidanceScale = v);
            SetIfGiven(parseResult.GetValue(temperature), v => request.SamplingTemperature = v);
            SetIfGiven(parseResult.GetValue(srTemperature), v => request.SrSamplingTemperature = v);
            SetIfGiven(parseResult.GetValue(choiceTemperature), v => request.ChoiceTemperature = v);
            SetIfGiven(parseResult.GetValue(quality), v => request.Quality = v);
            var outputOptions = new OutputOptions(parseResult.GetValue(output), parseResult.GetValue(grid), parseResult.GetValue(json));
            return CommandRunner.RunAsync(
                ct => RunAsync(request, outputOptions, parseResult.GetValue(endpoint), ct),
                cancellationToken);
        });
        return command;
    }

    private static async Task<int> RunAsync(GenerateRequest request, OutputOptions output, string? endpoint, CancellationToken cancellationToken)
    {
        if (output.Json)
        {
            // Scripts read stdout: only the JSON goes there.
            AnsiConsole.Console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        }

        var run = await RunAndWriteAsync(request, output, endpoint, cancellationToken);
        Report(run, output.Json);
        return 0;
    }

    /// <summary>Runs one Generate call with progress on the console and writes its images; prints no summary.</summary>
    internal static async Task<GenerationRun> RunAndWriteAsync(
        GenerateRequest request, OutputOptions output, string? endpoint, CancellationToken cancellationToken)
    {
        await using var connection = await MuseConnection.OpenAsync(endpoint, cancellationToken);
        using var call = connection.Client.Generate(request, cancellationToken: cancellationToken);

        Accepted? accepted = null;
        Result? result = null;
        string? outputPath = null;
        var stepsByStage = new Dictionary<string, int>(StringComparer.Ordinal);
        async Task ReadEventsAsync(Action<Protos.V1.Progress> onProgress)
        {
            await foreach (var generateEvent in call.ResponseStream.ReadAllAsync(cancellationToken))
            {
                switch (generateEvent.EventCase)
                {
                    case GenerateEvent.EventOneofCase.Accepted:
                        accepted = generateEvent.Accepted;
                        outputPath = Path.GetFullPath(output.Path ?? $"muse-{accepted.Seed}.{Extension(request.OutputFormat)}");
                        RenderAccepted(accepted);
                        break;
                    case GenerateEvent.EventOneofCase.Queued:
                        AnsiConsole.MarkupLineInterpolated(
                            $"[grey]queued: position {generateEvent.Queued.Position} (queue holds {generateEvent.Queued.Capacity})[/]");
                        break;
                    case GenerateEvent.EventOneofCase.Progress:
                        var step = generateEvent.Progress;
                        stepsByStage[step.Stage] = step.Steps;
                        onProgress(step);
                        if (step.PreviewPng.Length > 0 && outputPath is not null)
                        {
                            var previewPath = Path.ChangeExtension(outputPath, $"{step.Stage}-{step.Step:00}.png");
                            await File.WriteAllBytesAsync(previewPath, step.PreviewPng.Memory, cancellationToken);
                        }

                        break;
                    case GenerateEvent.EventOneofCase.Result:
                        result = generateEvent.Result;
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
                    var bars = ProgressStages.ToDictionary(s => s, s => progress.AddTask(s, autoStart: false), StringComparer.Ordinal);
                    await ReadEventsAsync(step =>
                    {
                        if (bars.TryGetValue(step.Stage, out var bar))
                        {
                            Advance(bar, step);
                        }
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
            throw new InvalidOperationException("The Generate stream ended without an accepted event and a result.");
        }

        // Servers from before batches send only the single-image fields.
        var images = result.Images.Count > 0
            ? result.Images.ToList()
            : [new GeneratedImage { Image = result.Image, Seed = result.Seed, Width = result.Width, Height = result.Height, Format = request.OutputFormat }];
        var paths = new List<string>();
        if (output.Grid && images.Count > 1)
        {
            await File.WriteAllBytesAsync(outputPath, ContactSheet.Compose(images, request.OutputFormat, request.Quality > 0 ? request.Quality : 90), cancellationToken);
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
    internal static void Report(GenerationRun run, bool json, IReadOnlyDictionary<string, string>? extra = null)
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
    internal static string NumberedPath(string path, int index) =>
        Path.Combine(Path.GetDirectoryName(path) ?? "", $"{Path.GetFileNameWithoutExtension(path)}-{index}{Path.GetExtension(path)}");

    internal static string Extension(ImageFormat format) => format switch
    {
        ImageFormat.Jpeg => "jpg",
        ImageFormat.Webp => "webp",
        _ => "png",
    };

    private static ImageFormat ParseFormat(string? format) => format switch
    {
        "jpeg" => ImageFormat.Jpeg,
        "webp" => ImageFormat.Webp,
        _ => ImageFormat.Png,
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
        $"{step.Stage,-4} step {step.Step}/{step.Steps}, {step.MaskedTokens}/{step.TotalTokens} masked";

    private static void RenderAccepted(Accepted accepted)
    {
        AnsiConsole.MarkupLineInterpolated($"[bold]Accepted[/] request [blue]{accepted.RequestId}[/], pipeline [blue]{accepted.Pipeline}[/], seed [blue]{accepted.Seed}[/]");
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

    private static void SetIfGiven<T>(T? value, Action<T> set)
        where T : struct
    {
        if (value is { } given)
        {
            set(given);
        }
    }
}
