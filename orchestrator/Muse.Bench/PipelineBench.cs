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
    /// <summary>Measured requests per mode (after <see cref="WarmupRequests"/>). Default 5.</summary>
    public int Requests { get; init; } = 5;

    /// <summary>
    /// Unmeasured requests per mode first. Default 10: the split runs the transport code (Kestrel, HTTP/2, gRPC,
    /// protobuf) in five processes, each of which compiles it through the JIT's tiers on its own; code called once per
    /// request (the text encoder's and the image tokenizer's unary calls) is re-jitted only after about 30 calls, so
    /// with a single warm-up the split measured its start-up as much as its transport.
    /// </summary>
    public int WarmupRequests { get; init; } = 10;

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
    /// <summary>Unmeasured requests per mode before the measured ones.</summary>
    public int WarmupRequests { get; init; }

    /// <summary>Share of a split request's client-observed latency spent outside the stage code (gRPC, serialisation, process hops).</summary>
    public double OverheadShare => (SplitClientMs - InProcessMs) / SplitClientMs;

    /// <summary>Split latency (median, client-observed) over in-process latency (median).</summary>
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
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.Requests, 1, nameof(options.Requests));
        ArgumentOutOfRangeException.ThrowIfNegative(options.WarmupRequests, nameof(options.WarmupRequests));
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
        var warmup = options.WarmupRequests;
        for (var i = 0; i < warmup + options.Requests; i++)
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

        // The warm-up requests bring sessions, connections and the JIT's tiers to their steady state; they are not measured.
        var measuredSplit = split.Skip(warmup).ToList();
        var measuredInProcess = inProcess.Skip(warmup).ToList();
        double StageMs(IEnumerable<Result> results, string stage) => Median(results.Select(r => r.Timings.Single(t => t.Stage == stage).Milliseconds));
        var stagesTable = StageOrder
            .Select(s => new StageLatency(s, StageMs(measuredSplit.Select(m => m.Result), s), StageMs(measuredInProcess, s)))
            .ToList();
        // Every request counts for identity, the warm-up ones too: more seeds, same claim.
        var identical = split.Zip(inProcess).All(p => p.First.Result.Image.Equals(p.Second.Image));
        var pipeline = (await client.ListModelsAsync(new ListModelsRequest(), cancellationToken: ct)).DefaultPipeline;
        return new BenchResult(
            stagesTable, Median(measuredSplit.Select(m => m.ClientMs)), StageMs(measuredInProcess, "total"), identical, options.Requests, pipeline)
        {
            WarmupRequests = warmup,
        };
    }

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
    }
}
