using System.CommandLine;
using System.Globalization;
using System.Runtime.InteropServices;
using Muse.Bench;
using Muse.Client;
using Spectre.Console;

namespace Muse.Cli;

/// <summary><c>muse bench</c>: per-stage latency of the split pipeline against the same models in one process.</summary>
internal static class BenchCommand
{
    public static Command Create()
    {
        var requests = new Option<int>("--requests") { Description = "Measured requests per mode (after one warm-up)", DefaultValueFactory = _ => 5 };
        var steps = new Option<int>("--steps") { Description = "Base decoding steps", DefaultValueFactory = _ => 12 };
        var srSteps = new Option<int>("--sr-steps") { Description = "Super-resolution decoding steps", DefaultValueFactory = _ => 8 };
        var threads = new Option<int>("--intra-op-threads") { Description = "ONNX Runtime threads per operator, both modes", DefaultValueFactory = _ => 1 };
        var command = new Command("bench", "Measure the split pipeline (one process per stage, gRPC) against the same stage code in one process")
        {
            requests, steps, srSteps, threads,
        };
        command.SetAction((parseResult, cancellationToken) => CommandRunner.RunAsync(
            async ct =>
            {
                var options = new BenchOptions
                {
                    Requests = parseResult.GetValue(requests),
                    BaseSteps = parseResult.GetValue(steps),
                    SrSteps = parseResult.GetValue(srSteps),
                    IntraOpThreads = parseResult.GetValue(threads),
                };
                AnsiConsole.MarkupLine($"[grey]{options.Requests} requests per mode, base {options.BaseSteps} / sr {options.SrSteps} steps, {options.IntraOpThreads} ORT thread(s) per operator[/]");
                var result = await PipelineBench.RunAsync(options, ct);
                AnsiConsole.Write(Render(result));
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

    private static string Machine() =>
        $"{Environment.ProcessorCount} cores, {RuntimeInformation.OSDescription}, {RuntimeInformation.ProcessArchitecture}";
}
