using System.CommandLine;
using System.Globalization;
using Grpc.Core;
using Muse.Protos.V1;
using Spectre.Console;

namespace Muse.Cli;

/// <summary><c>muse generate "PROMPT"</c>: one Generate call, a progress bar per stage, the PNG written to a file.</summary>
internal static class GenerateCommand
{
    private static readonly string[] ProgressStages = ["base", "sr"];

    public static Command Create()
    {
        var prompt = new Argument<string>("prompt") { Description = "What to draw, e.g. \"a large red circle on the left\"" };
        var seed = new Option<ulong?>("--seed") { Description = "Seed of all sampling noise (default: chosen by the server and reported)" };
        var steps = new Option<int?>("--steps") { Description = "Parallel decoding steps of the base model (default: the pipeline's, 12)" };
        var srSteps = new Option<int?>("--sr-steps") { Description = "Parallel decoding steps of the super-resolution model (default: the pipeline's, 8)" };
        var guidance = new Option<float?>("--guidance") { Description = "Classifier-free guidance scale; 1 = no guidance (default: the pipeline's, 3)" };
        var guidanceSchedule = new Option<string>("--guidance-schedule")
        {
            Description = "How the guidance scale varies over the steps",
            DefaultValueFactory = _ => "constant",
        };
        guidanceSchedule.AcceptOnlyFromAmong("constant", "linear");
        var temperature = new Option<float?>("--temperature") { Description = "Sampling temperature on the replicas; 0 = greedy (default: the pipeline's, 1)" };
        var choiceTemperature = new Option<float?>("--choice-temperature") { Description = "Gumbel temperature of confidence re-masking (default: the pipeline's, 4.5)" };
        var negative = new Option<string>("--negative") { Description = "Negative prompt: what to steer away from", DefaultValueFactory = _ => "" };
        var pipeline = new Option<string>("--pipeline") { Description = "Pipeline from `muse models` (default: the server's default pipeline)", DefaultValueFactory = _ => "" };
        var previewEvery = new Option<int>("--preview-every") { Description = "Save a preview PNG every n base steps next to the output; 0 = none", DefaultValueFactory = _ => 0 };
        var output = new Option<string?>("--out", "-o") { Description = "Output PNG (default: muse-<seed>.png in the current directory)" };
        var endpoint = CommonOptions.Endpoint();

        var command = new Command("generate", "Generate an image from a text prompt")
        {
            prompt, seed, steps, srSteps, guidance, guidanceSchedule, temperature, choiceTemperature, negative, pipeline,
            previewEvery, output, endpoint,
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
            };
            // Unset options stay unset in the request, so the server applies the pipeline's defaults.
            SetIfGiven(parseResult.GetValue(seed), v => request.Seed = v);
            SetIfGiven(parseResult.GetValue(steps), v => request.BaseSteps = v);
            SetIfGiven(parseResult.GetValue(srSteps), v => request.SrSteps = v);
            SetIfGiven(parseResult.GetValue(guidance), v => request.GuidanceScale = v);
            SetIfGiven(parseResult.GetValue(temperature), v => request.SamplingTemperature = v);
            SetIfGiven(parseResult.GetValue(choiceTemperature), v => request.ChoiceTemperature = v);
            return CommandRunner.RunAsync(
                ct => RunAsync(request, parseResult.GetValue(output), parseResult.GetValue(endpoint), ct),
                cancellationToken);
        });
        return command;
    }

    private static async Task<int> RunAsync(GenerateRequest request, string? output, string? endpoint, CancellationToken cancellationToken)
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
                        outputPath = Path.GetFullPath(output ?? $"muse-{accepted.Seed}.png");
                        RenderAccepted(accepted);
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

        if (result is null || outputPath is null)
        {
            throw new InvalidOperationException("The Generate stream ended without an accepted event and a result.");
        }

        await File.WriteAllBytesAsync(outputPath, result.Image.Memory, cancellationToken);
        RenderSummary(result, request, stepsByStage, outputPath);
        return 0;
    }

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

    private static void RenderSummary(Result result, GenerateRequest request, Dictionary<string, int> stepsByStage, string outputPath)
    {
        var table = new Table().Border(TableBorder.Rounded).AddColumn("").AddColumn("");
        table.ShowHeaders = false;
        table.AddRow("request", Markup.Escape(result.RequestId));
        table.AddRow("seed", result.Seed.ToString(CultureInfo.InvariantCulture));
        table.AddRow("steps", $"base {Steps("base", request.HasBaseSteps ? request.BaseSteps : null)}, sr {Steps("sr", request.HasSrSteps ? request.SrSteps : null)}");
        foreach (var model in result.Models)
        {
            table.AddRow(Markup.Escape(model.Stage), Markup.Escape($"{model.Name}/{model.Version}"));
        }

        foreach (var timing in result.Timings)
        {
            table.AddRow(Markup.Escape($"time {timing.Stage}"), FormatMilliseconds(timing.Milliseconds));
        }

        table.AddRow("image", $"{result.Width}×{result.Height} px");
        table.AddRow("output", Markup.Escape(outputPath));
        AnsiConsole.Write(table);

        string Steps(string stage, int? requested) =>
            stepsByStage.TryGetValue(stage, out var seen) ? seen.ToString(CultureInfo.InvariantCulture)
            : requested?.ToString(CultureInfo.InvariantCulture) ?? "default";
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
