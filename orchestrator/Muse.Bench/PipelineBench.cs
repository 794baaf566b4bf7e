using System.Diagnostics;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Muse.Cluster;
using Muse.InProcess;
using Muse.Orchestrator.Generation;
using Muse.Orchestrator.Pipelines;
using Muse.Orchestrator.Replicas;
using Muse.Protos.V1;
using Muse.Repository;

namespace Muse.Bench;

/// <summary>What <see cref="PipelineBench.RunAsync"/> measures.</summary>
public sealed record BenchOptions
{
    /// <summary>Measured requests per mode (after one warm-up request). Default 5.</summary>
    public int Requests { get; init; } = 5;

    /// <summary>Base steps. Default 12.</summary>
    public int BaseSteps { get; init; } = 12;

    /// <summary>Super-resolution steps. Default 8.</summary>
    public int SrSteps { get; init; } = 8;

    /// <summary>ONNX Runtime threads per operator in every session, both modes. Default 1: two cores, five processes.</summary>
    public int IntraOpThreads { get; init; } = 1;

    /// <summary>Prompt of every request.</summary>
    public string Prompt { get; init; } = "a large red circle on the left";

    /// <summary>Model repository; default located as the stages do.</summary>
    public string? Repository { get; init; }
}

/// <summary>Median milliseconds of one stage in both modes.</summary>
public sealed record StageLatency(string Stage, double SplitMs, double InProcessMs);

/// <summary>The outcome of a bench run.</summary>
public sealed record BenchResult(
    IReadOnlyList<StageLatency> Stages,
    double SplitClientMs,
    double InProcessMs,
    bool IdenticalImages,
    int Requests,
    string Pipeline)
{
    /// <summary>Share of a split request's client-observed latency spent outside the stage code (gRPC, serialisation, process hops).</summary>
    public double OverheadShare => (SplitClientMs - InProcessMs) / SplitClientMs;

    /// <summary>Split latency over in-process latency.</summary>
    public double Ratio => SplitClientMs / InProcessMs;
}

/// <summary>
/// Runs the same requests through the split pipeline (every stage its own process, gRPC on loopback) and through
/// the same stage code in one process, and reports per-stage latency, the transport's share and their ratio.
/// </summary>
public static class PipelineBench
{
    private static readonly string[] StageOrder = [Stages.TextEncoder, Stages.Base, Stages.SuperResolution, Stages.ImageTokenizer, "total"];

    /// <summary>
    /// Runs both modes side by side: the cluster and the in-process stages are both up, and each request runs split
    /// then in-process, so a change of machine load during the run affects both alike. Medians are reported.
    /// </summary>
    public static async Task<BenchResult> RunAsync(BenchOptions options, CancellationToken ct)
    {
        var repository = ModelRepository.Locate(options.Repository);
        var clusterOptions = new LocalClusterOptions { Repository = repository };
        clusterOptions.StageArguments.Add($"--Muse:Inference:IntraOpThreads={options.IntraOpThreads}");
        await using var cluster = await LocalCluster.StartAsync(clusterOptions, cancellationToken: ct);
        using var channel = GrpcChannel.ForAddress(cluster.OrchestratorUrl);
        var client = new Protos.V1.Muse.MuseClient(channel);
        using var stages = await InProcessStages.StartAsync(repository, options.IntraOpThreads, ct);
        var catalog = PipelineCatalog.Load(Path.Combine(Path.GetDirectoryName(repository)!, "pipelines.json"), repository);
        var generator = new Generator(new StageRunner(stages, Options.Create(new StageResilienceOptions()), TimeProvider.System, NullLogger<StageRunner>.Instance), stages, TimeProvider.System);

        var split = new List<(Result Result, double ClientMs)>();
        var inProcess = new List<Result>();
        for (var i = 0; i <= options.Requests; i++)
        {
            var request = new GenerateRequest { Prompt = options.Prompt, Seed = (ulong)(1000 + i), Decoding = new DecodingOptions { BaseSteps = options.BaseSteps, SrSteps = options.SrSteps } };

            var started = Stopwatch.GetTimestamp();
            Result? result = null;
            using (var call = client.Generate(request, cancellationToken: ct))
            {
                await foreach (var e in call.ResponseStream.ReadAllAsync(ct))
                {
                    result = e.Result ?? result;
                }
            }

            split.Add((result!, Stopwatch.GetElapsedTime(started).TotalMilliseconds));
            inProcess.Add(await generator.GenerateAsync(GenerateSettings.FromRequest(request, catalog), _ => Task.CompletedTask, deadline: null, ct));
        }

        // Request 0 warms up sessions, JIT and connections in both modes; it is not measured.
        var measuredSplit = split.Skip(1).ToList();
        var measuredInProcess = inProcess.Skip(1).ToList();
        double StageMs(IEnumerable<Result> results, string stage) => Median(results.Select(r => r.Timings.Single(t => t.Stage == stage).Milliseconds));
        var stagesTable = StageOrder
            .Select(s => new StageLatency(s, StageMs(measuredSplit.Select(m => m.Result), s), StageMs(measuredInProcess, s)))
            .ToList();
        var identical = measuredSplit.Zip(measuredInProcess).All(p => p.First.Result.Image.Equals(p.Second.Image));
        var pipeline = (await client.ListModelsAsync(new ListModelsRequest(), cancellationToken: ct)).DefaultPipeline;
        return new BenchResult(
            stagesTable, Median(measuredSplit.Select(m => m.ClientMs)), StageMs(measuredInProcess, "total"), identical, options.Requests, pipeline);
    }

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
    }
}
