using System.CommandLine;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using Muse.Bench;
using Muse.Client;
using Spectre.Console;

namespace Muse.Cli;

/// <summary><c>muse bench</c>: per-stage latency of the split pipeline against the same models in one process.</summary>
internal static class BenchCommand
{
    private static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = true };

    public static Command Create()
    {
        var requests = new Option<int>("--requests") { Description = "Measured requests per mode (after the warm-up)", DefaultValueFactory = _ => 5 };
        var warmup = new Option<int>("--warmup") { Description = "Unmeasured warm-up requests per mode (JIT tiers, sessions, connections)", DefaultValueFactory = _ => 10 };
        var steps = new Option<int>("--steps") { Description = "Base decoding steps", DefaultValueFactory = _ => 12 };
        var srSteps = new Option<int>("--sr-steps") { Description = "Super-resolution decoding steps", DefaultValueFactory = _ => 8 };
        var threads = new Option<int>("--intra-op-threads") { Description = "ONNX Runtime threads per operator, both modes", DefaultValueFactory = _ => 1 };
        var json = new Option<bool>("--json") { Description = "Print the result as one JSON object on stdout (progress on stderr)" };
        var command = new Command("bench", "Measure the split pipeline (one process per stage, gRPC) against the same stage code in one process")
        {
            requests, warmup, steps, srSteps, threads, json,
        };
        command.SetAction((parseResult, cancellationToken) => CommandRunner.RunAsync(
            async ct =>
            {
                var options = new BenchOptions
                {
                    Requests = parseResult.GetValue(requests),
                    WarmupRequests = parseResult.GetValue(warmup),
                    BaseSteps = parseResult.GetValue(steps),
                    SrSteps = parseResult.GetValue(srSteps),
                    IntraOpThreads = parseResult.GetValue(threads),
                };
                var asJson = parseResult.GetValue(json);
                var header = $"{options.WarmupRequests} warm-up + {options.Requests} measured requests per mode, base {options.BaseSteps} / sr {options.SrSteps} steps, {options.IntraOpThreads} ORT thread(s) per operator";
                if (asJson)
                {
                    await Console.Error.WriteLineAsync(header);
                }
                else
                {
                    AnsiConsole.MarkupLine($"[grey]{Markup.Escape(header)}[/]");
                }

                var result = await PipelineBench.RunAsync(options, ct);
                if (asJson)
                {
                    Console.Out.WriteLine(ToJson(result, options));
                }
                else
                {
                    AnsiConsole.Write(Render(result));
                }

                return result.IdenticalImages ? 0 : CommandRunner.Failed;
            },
            cancellationToken));
        return command;
    }

    internal static Table Render(BenchResult result)
    {
        string Ms(double value) => value.ToString("0.0", CultureInfo.InvariantCulture);
        var table = new Table().Border(TableBorder.Rounded)
            .Title($"pipeline {Markup.Escape(result.Pipeline)} on {Markup.Escape(Machine())}")
            .AddColumns("stage", "split (ms)", "in-process (ms)");
        foreach (var stage in result.Stages)
        {
            table.AddRow(stage.Stage == "total" ? "total (server)" : stage.Stage, Ms(stage.SplitMs), Ms(stage.InProcessMs));
        }

        table.AddRow("total (client)", Ms(result.SplitClientMs), Ms(result.InProcessMs));
        table.AddRow("gRPC + serialisation share", result.OverheadShare.ToString("0.0%", CultureInfo.InvariantCulture), "");
        table.AddRow("split / in-process", result.Ratio.ToString("0.00", CultureInfo.InvariantCulture) + "×", "");
        table.AddRow("identical images", result.IdenticalImages ? "yes" : "NO", "");
        return table;
    }

    /// <summary>
    /// The result as one JSON object: medians per stage of both modes in milliseconds (<c>split_ms</c>,
    /// <c>in_process_ms</c>; the split's <c>client</c> is what its caller observed), <c>ratio</c> (split client over
    /// in-process total) and <c>identical</c> (byte-identical images in every request).
    /// </summary>
    internal static string ToJson(BenchResult result, BenchOptions options)
    {
        static double Ms(double value) => Math.Round(value, 3);
        var split = result.Stages.ToDictionary(s => s.Stage, s => Ms(s.SplitMs), StringComparer.Ordinal);
        split["client"] = Ms(result.SplitClientMs);
        var summary = new Dictionary<string, object>(StringComparer.Ordinal)
        {
            ["pipeline"] = result.Pipeline,
            ["machine"] = Machine(),
            ["requests"] = result.Requests,
            ["warmup_requests"] = result.WarmupRequests,
            ["base_steps"] = options.BaseSteps,
            ["sr_steps"] = options.SrSteps,
            ["intra_op_threads"] = options.IntraOpThreads,
            ["split_ms"] = split,
            ["in_process_ms"] = result.Stages.ToDictionary(s => s.Stage, s => Ms(s.InProcessMs), StringComparer.Ordinal),
            ["overhead_share"] = Math.Round(result.OverheadShare, 4),
            ["ratio"] = Math.Round(result.Ratio, 4),
            ["identical"] = result.IdenticalImages,
        };
        return JsonSerializer.Serialize(summary, JsonOptions);
    }

    private static string Machine() =>
        $"{Environment.ProcessorCount} cores, {RuntimeInformation.OSDescription}, {RuntimeInformation.ProcessArchitecture}";
}
