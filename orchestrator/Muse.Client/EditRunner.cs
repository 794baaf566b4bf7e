using System.CommandLine;
using System.Globalization;
using Google.Protobuf;
using Grpc.Core;
using Muse.Protos.V1;
using Spectre.Console;

namespace Muse.Client;

/// <summary>
/// What <c>muse inpaint</c>, <c>muse outpaint</c> and <c>muse edit</c> share: the decoding options, reading the
/// input files, one Edit call with a progress bar per stage (and round), and the PNG written to a file.
/// </summary>
internal sealed class EditRunner
{
    private readonly Option<ulong?> _seed = new("--seed") { Description = "Seed of all sampling noise (default: chosen by the server and reported)" };
    private readonly Option<int?> _steps = new("--steps") { Description = "Parallel decoding steps of the base model per decode (default: the pipeline's)" };
    private readonly Option<int?> _srSteps = new("--sr-steps") { Description = "Parallel decoding steps of the super-resolution model per decode (default: the pipeline's)" };
    private readonly Option<float?> _guidance = new("--guidance") { Description = "Classifier-free guidance scale; 1 = no guidance (default: the pipeline's)" };
    private readonly Option<float?> _temperature = new("--temperature") { Description = "Sampling temperature of the base model; 0 = greedy (default: the pipeline's)" };
    private readonly Option<float?> _srTemperature = new("--sr-temperature") { Description = "Sampling temperature of the super-resolution model; 0 = greedy (default: the pipeline's)" };
    private readonly Option<float?> _choiceTemperature = new("--choice-temperature") { Description = "Gumbel temperature of confidence re-masking (default: the pipeline's)" };
    private readonly Option<string> _negative = new("--negative") { Description = "Negative prompt: what to steer away from", DefaultValueFactory = _ => "" };
    private readonly Option<string> _pipeline = new("--pipeline") { Description = "Pipeline from `muse models` (default: the server's default pipeline)", DefaultValueFactory = _ => "" };
    private readonly Option<string?> _output = new("--out", "-o") { Description = "Output PNG (default: <input>-<command>-<seed>.png in the current directory)" };
    private readonly Option<string?> _endpoint = CommonOptions.Endpoint();

    /// <summary>Adds the shared options to <paramref name="command"/>.</summary>
    public void AddTo(Command command)
    {
        foreach (var option in new Option[] { _seed, _steps, _srSteps, _guidance, _temperature, _srTemperature, _choiceTemperature, _negative, _pipeline, _output, _endpoint })
        {
            command.Options.Add(option);
        }
    }

    /// <summary>An Edit request with the image file and the shared options filled in; the caller sets the mode.</summary>
    public EditRequest Request(ParseResult parseResult, string imagePath, string prompt)
    {
        var request = new EditRequest
        {
            Image = ByteString.CopyFrom(ReadInput(imagePath)),
            Prompt = prompt,
            NegativePrompt = parseResult.GetValue(_negative) ?? "",
            Pipeline = parseResult.GetValue(_pipeline) ?? "",
        };
        // Unset options stay unset, so the server applies the pipeline's defaults.
        if (parseResult.GetValue(_seed) is { } seed)
        {
            request.Seed = seed;
        }

        if (parseResult.GetValue(_steps) is { } steps)
        {
            request.BaseSteps = steps;
        }

        if (parseResult.GetValue(_srSteps) is { } srSteps)
        {
            request.SrSteps = srSteps;
        }

        if (parseResult.GetValue(_guidance) is { } guidance)
        {
            request.GuidanceScale = guidance;
        }

        if (parseResult.GetValue(_temperature) is { } temperature)
        {
            request.SamplingTemperature = temperature;
        }

        if (parseResult.GetValue(_srTemperature) is { } srTemperature)
        {
            request.SrSamplingTemperature = srTemperature;
        }

        if (parseResult.GetValue(_choiceTemperature) is { } choiceTemperature)
        {
            request.ChoiceTemperature = choiceTemperature;
        }

        return request;
    }

    /// <summary>Bytes of an input file, with a clear error when it cannot be read (the server checks the content).</summary>
    public static byte[] ReadInput(string path)
    {
        var info = new FileInfo(path);
        if (!info.Exists)
        {
            throw new FileNotFoundException($"{path}: no such file.");
        }

        // The server refuses more than its cap anyway; this only avoids reading a huge file into memory to send it.
        const long Limit = 64L * 1024 * 1024;
        return info.Length > Limit ? throw new IOException($"{path} is {info.Length} bytes; images to edit must be under {Limit} bytes.") : File.ReadAllBytes(path);
    }

    /// <summary>Runs the command body with the CLI's error handling.</summary>
    public Task<int> RunAsync(ParseResult parseResult, string verb, string imagePath, Func<EditRequest> request, CancellationToken cancellationToken) =>
        CommandRunner.RunAsync(ct => RunCoreAsync(request(), verb, imagePath, parseResult.GetValue(_output), parseResult.GetValue(_endpoint), ct), cancellationToken);

    private static async Task<int> RunCoreAsync(EditRequest request, string verb, string imagePath, string? output, string? endpoint, CancellationToken cancellationToken)
    {
        await using var connection = await MuseConnection.OpenAsync(endpoint, cancellationToken);
        using var call = connection.Client.Edit(request, cancellationToken: cancellationToken);

        Accepted? accepted = null;
        Result? result = null;
        async Task ReadEventsAsync(Action<Protos.V1.Progress> onProgress)
        {
            await foreach (var editEvent in call.ResponseStream.ReadAllAsync(cancellationToken))
            {
                switch (editEvent.EventCase)
                {
                    case GenerateEvent.EventOneofCase.Accepted:
                        accepted = editEvent.Accepted;
                        AnsiConsole.MarkupLineInterpolated(
                            $"[bold]Accepted[/] {verb} [blue]{accepted.RequestId}[/], pipeline [blue]{accepted.Pipeline}[/], seed [blue]{accepted.Seed}[/]");
                        break;
                    case GenerateEvent.EventOneofCase.Queued:
                        AnsiConsole.MarkupLineInterpolated($"[grey]queued at position {editEvent.Queued.Position}[/]");
                        break;
                    case GenerateEvent.EventOneofCase.Progress:
                        onProgress(editEvent.Progress);
                        break;
                    case GenerateEvent.EventOneofCase.Result:
                        result = editEvent.Result;
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

                        bar.MaxValue = Math.Max(step.Steps, 1);
                        bar.Value = step.Step;
                        bar.Description = Describe(step);
                        if (step.Step >= step.Steps)
                        {
                            bar.StopTask();
                        }
                    });
                });
        }
        else
        {
            await ReadEventsAsync(step => AnsiConsole.WriteLine(Describe(step)));
        }

        if (accepted is null || result is null)
        {
            throw new InvalidOperationException("The Edit stream ended without an accepted event and a result.");
        }

        var path = Path.GetFullPath(output ?? $"{Path.GetFileNameWithoutExtension(imagePath)}-{verb}-{result.Seed}.png");
        await File.WriteAllBytesAsync(path, result.Image.Memory, cancellationToken);
        var table = new Table().Border(TableBorder.Rounded).AddColumn("").AddColumn("");
        table.ShowHeaders = false;
        table.AddRow("request", Markup.Escape(result.RequestId));
        table.AddRow("seed", result.Seed.ToString(CultureInfo.InvariantCulture));
        foreach (var timing in result.Timings)
        {
            table.AddRow(Markup.Escape($"time {timing.Stage}"), string.Create(CultureInfo.InvariantCulture, $"{timing.Milliseconds:0} ms"));
        }

        table.AddRow("image", $"{result.Width}×{result.Height} px");
        table.AddRow("output", Markup.Escape(path));
        AnsiConsole.Write(table);
        return 0;
    }

    private static string Describe(Protos.V1.Progress step) =>
        (step.Rounds > 0 ? $"round {step.Round}/{step.Rounds} " : "")
        + $"{step.Stage,-4} step {step.Step}/{step.Steps}, {step.MaskedTokens}/{step.TotalTokens} masked";
}
