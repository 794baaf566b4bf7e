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
        var warmup = new Option<int?>("--warmup") { Description = "Unmeasured warm-up requests per mode (JIT tiers, sessions, connections); default 10, or 1 in-process only" };
        var steps = new Option<int>("--steps") { Description = "Base decoding steps", DefaultValueFactory = _ => 12 };
        var srSteps = new Option<int>("--sr-steps") { Description = "Super-resolution decoding steps", DefaultValueFactory = _ => 8 };
        var threads = new Option<int?>("--intra-op-threads") { Description = "ONNX Runtime threads per operator (default: 1 with split stages sharing the cores, one per physical core in-process only)" };
        var json = new Option<bool>("--json") { Description = "Print the result as one JSON object on stdout (progress on stderr)" };
        var repository = new Option<DirectoryInfo?>("--repository") { Description = "Model repository (pipelines.json next to it); default: models/repository" };
        var pipeline = new Option<string?>("--pipeline") { Description = "Pipeline of every request (default: the repository's default)" };
        var mode = new Option<string>("--mode") { Description = "both (split and in-process side by side), in-process or split", DefaultValueFactory = _ => "both" };
        mode.AcceptOnlyFromAmong("both", "in-process", "split");
        var spinning = new Option<bool?>("--allow-spinning") { Description = "Let idle ONNX Runtime threads spin (default: on for both/split, off in-process, where the idle sessions would spin on the cores the running one computes on)" };
        var arena = new Option<bool?>("--memory-arena") { Description = "Keep activations in ONNX Runtime's CPU arena between runs (default: on for both/split, off in-process, where full-size models would hold every session's peak at once)" };
        var peak = new Option<int>("--peak-gemm") { Description = "Side of the square fp32 GEMM that measures the machine's peak (0 = skip)", DefaultValueFactory = _ => 2048 };
        var recompete = new Option<bool>("--recompete") { Description = "Let committed tokens compete again in both stages (decoding options recompete, sr_recompete)" };
        var command = new Command("bench", "Measure the split pipeline (one process per stage, gRPC) against the same stage code in one process")
        {
            requests, warmup, steps, srSteps, threads, json, repository, pipeline, mode, spinning, arena, peak, recompete,
        };
        command.SetAction((parseResult, cancellationToken) => CommandRunner.RunAsync(
            async ct =>
            {
                var benchMode = parseResult.GetValue(mode) switch { "in-process" => BenchMode.InProcess, "split" => BenchMode.Split, _ => BenchMode.Both };
                var inProcessOnly = benchMode == BenchMode.InProcess;
                var options = new BenchOptions
                {
                    Requests = parseResult.GetValue(requests),
                    // In-process, a warm-up only has to bring each session through its first run (its allocations); the
                    // JIT tiers that need ten requests in five processes are noise against steps of seconds.
                    WarmupRequests = parseResult.GetValue(warmup) ?? (inProcessOnly ? 1 : 10),
                    BaseSteps = parseResult.GetValue(steps),
                    SrSteps = parseResult.GetValue(srSteps),
                    Recompete = parseResult.GetValue(recompete),
                    IntraOpThreads = parseResult.GetValue(threads) ?? (inProcessOnly ? PipelineBench.PhysicalCores() : 1),
                    Repository = parseResult.GetValue(repository)?.FullName,
                    Pipeline = parseResult.GetValue(pipeline),
                    Mode = benchMode,
                    AllowSpinning = parseResult.GetValue(spinning) ?? !inProcessOnly,
                    CpuMemoryArena = parseResult.GetValue(arena) ?? !inProcessOnly,
                    PeakGemmSize = parseResult.GetValue(peak),
                };
                var asJson = parseResult.GetValue(json);
                var header = $"{options.WarmupRequests} warm-up + {options.Requests} measured requests per mode ({parseResult.GetValue(mode)}), base {options.BaseSteps} / sr {options.SrSteps} steps, {options.IntraOpThreads} ORT thread(s) per operator, spinning {(options.AllowSpinning ? "on" : "off")}, memory arena {(options.CpuMemoryArena ? "on" : "off")}";
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
        if (result.Mode == BenchMode.Both)
        {
            table.AddRow("gRPC + serialisation share", result.OverheadShare.ToString("0.0%", CultureInfo.InvariantCulture), "");
            table.AddRow("split / in-process", result.Ratio.ToString("0.00", CultureInfo.InvariantCulture) + "×", "");
            table.AddRow("identical images", result.IdenticalImages ? "yes" : "NO", "");
        }

        if (result.Floor is { } floor)
        {
            table.AddRow(
                "transport floor: empty round trip × hops",
                $"{floor.MillisecondsPerHop:0.00} ms × {floor.HopsPerRequest} = {Ms(floor.MillisecondsPerRequest)}",
                double.IsNaN(result.InProcessMs) ? "" : $"ratio ≥ {floor.RatioFloor(result.InProcessMs):0.00}×");
        }

        foreach (var stage in result.Throughput)
        {
            table.AddRow(
                $"{stage.Stage}: ms/step, GFLOP/s, utilisation",
                Ms(stage.MsPerStep),
                $"{stage.FlopsPerSecond / 1e9:0.0} GFLOP/s, {stage.Utilization:0.00} of peak");
        }

        if (result.Peak is { } peak)
        {
            table.AddRow($"peak: fp32 GEMM {peak.Size}³", "", $"{peak.FlopsPerSecond / 1e9:0.0} GFLOP/s");
        }

        if (result.InProcess is { } cost)
        {
            table.AddRow("load (s), peak RSS", cost.LoadSeconds.ToString("0.0", CultureInfo.InvariantCulture), $"{cost.PeakRssBytes / (double)(1L << 30):0.00} GiB");
        }

        table.AddRow("load average start → end", string.Join(" ", result.LoadAverageStart), string.Join(" ", result.LoadAverageEnd));
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
        var summary = new Dictionary<string, object>(StringComparer.Ordinal)
        {
            ["pipeline"] = result.Pipeline,
            ["machine"] = Machine(),
            ["mode"] = result.Mode switch { BenchMode.InProcess => "in-process", BenchMode.Split => "split", _ => "both" },
            ["requests"] = result.Requests,
            ["warmup_requests"] = result.WarmupRequests,
            ["base_steps"] = options.BaseSteps,
            ["sr_steps"] = options.SrSteps,
            ["intra_op_threads"] = options.IntraOpThreads,
            ["allow_spinning"] = options.AllowSpinning,
            ["cpu_memory_arena"] = options.CpuMemoryArena,
            ["load_average"] = new Dictionary<string, IReadOnlyList<double>>(StringComparer.Ordinal) { ["start"] = result.LoadAverageStart, ["end"] = result.LoadAverageEnd },
        };
        if (result.Mode != BenchMode.InProcess)
        {
            var split = result.Stages.Where(s => !double.IsNaN(s.SplitMs)).ToDictionary(s => s.Stage, s => Ms(s.SplitMs), StringComparer.Ordinal);
            split["client"] = Ms(result.SplitClientMs);
            summary["split_ms"] = split;
        }

        if (result.Mode != BenchMode.Split)
        {
            // A stage the pipeline lacks (sr of an imported aMUSEd pipeline) is left out.
            summary["in_process_ms"] = result.Stages.Where(s => !double.IsNaN(s.InProcessMs)).ToDictionary(s => s.Stage, s => Ms(s.InProcessMs), StringComparer.Ordinal);
        }

        if (result.Mode == BenchMode.Both)
        {
            summary["overhead_share"] = Math.Round(result.OverheadShare, 4);
            summary["ratio"] = Math.Round(result.Ratio, 4);
            summary["identical"] = result.IdenticalImages;
        }

        if (result.Floor is { } floor)
        {
            summary["transport_floor"] = new Dictionary<string, double>(StringComparer.Ordinal)
            {
                ["ms_per_hop"] = Ms(floor.MillisecondsPerHop),
                ["hops_per_request"] = floor.HopsPerRequest,
                ["ms_per_request"] = Ms(floor.MillisecondsPerRequest),
                ["samples"] = floor.Samples,
                ["ratio_floor"] = double.IsNaN(result.InProcessMs) ? -1 : Math.Round(floor.RatioFloor(result.InProcessMs), 4),
            };
        }

        if (result.Peak is { } peak)
        {
            summary["peak"] = new Dictionary<string, object>(StringComparer.Ordinal)
            {
                ["gemm"] = $"fp32 {peak.Size}x{peak.Size}x{peak.Size} MatMul through ONNX Runtime, fastest of {peak.Runs} runs, before the models load and after the requests",
                ["flops_per_second"] = Math.Round(peak.FlopsPerSecond),
                ["samples_flops_per_second"] = peak.Samples.Select(v => Math.Round(v)).ToArray(),
            };
        }

        // Achieved over peak per transformer stage; absent without a peak measurement.
        summary["utilization"] = result.Throughput.ToDictionary(
            t => t.Stage,
            t => (object)new Dictionary<string, double>(StringComparer.Ordinal)
            {
                ["flops_per_step"] = Math.Round(t.FlopsPerStep),
                ["ms_per_step"] = Ms(t.MsPerStep),
                ["flops_per_second"] = Math.Round(t.FlopsPerSecond),
                ["utilization"] = double.IsNaN(t.Utilization) ? -1 : Math.Round(t.Utilization, 4),
            },
            StringComparer.Ordinal);
        if (result.InProcess is { } cost)
        {
            summary["load"] = new Dictionary<string, double>(StringComparer.Ordinal)
            {
                ["seconds"] = Math.Round(cost.LoadSeconds, 3),
                ["rss_after_load_bytes"] = cost.LoadedRssBytes,
                ["peak_rss_bytes"] = cost.PeakRssBytes,
            };
        }

        return JsonSerializer.Serialize(summary, JsonOptions);
    }

    private static string Machine() =>
        $"{Environment.ProcessorCount} cores, {RuntimeInformation.OSDescription}, {RuntimeInformation.ProcessArchitecture}";
}
