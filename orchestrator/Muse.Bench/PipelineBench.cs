using System.Diagnostics;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Muse.Cluster;
using Muse.Inference;
using Muse.Orchestrator.Generation;
using Muse.Orchestrator.Pipelines;
using Muse.Orchestrator.Replicas;
using Muse.Protos.V1;

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

/// <summary>Mean milliseconds of one stage in both modes.</summary>
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

    /// <summary>Runs both modes, split first.</summary>
    public static async Task<BenchResult> RunAsync(BenchOptions options, CancellationToken ct)
    {
        var repository = ModelRepository.Locate(options.Repository);
        var requests = Enumerable.Range(0, options.Requests + 1).Select(i => new GenerateRequest
        {
            Prompt = options.Prompt,
            Seed = (ulong)(1000 + i),
            BaseSteps = options.BaseSteps,
            SrSteps = options.SrSteps,
        }).ToList();

        var (splitStages, splitClient, splitImages, pipeline) = await RunSplitAsync(repository, options, requests, ct);
        var (inProcessStages, inProcessImages) = await RunInProcessAsync(repository, options, requests, ct);

        var stages = StageOrder.Select(s => new StageLatency(s, splitStages[s], inProcessStages[s])).ToList();
        var identical = splitImages.Zip(inProcessImages).All(p => p.First.SequenceEqual(p.Second));
        return new BenchResult(stages, splitClient, inProcessStages["total"], identical, options.Requests, pipeline);
    }

    private static async Task<(Dictionary<string, double> Stages, double ClientMs, List<byte[]> Images, string Pipeline)> RunSplitAsync(
        string repository, BenchOptions options, List<GenerateRequest> requests, CancellationToken ct)
    {
        var clusterOptions = new LocalClusterOptions { Repository = repository };
        clusterOptions.StageArguments.Add($"--Muse:Inference:IntraOpThreads={options.IntraOpThreads}");
        await using var cluster = await LocalCluster.StartAsync(clusterOptions, cancellationToken: ct);
        using var channel = GrpcChannel.ForAddress(cluster.OrchestratorUrl);
        var client = new Protos.V1.Muse.MuseClient(channel);

        var timings = new List<Result>();
        var clientMs = new List<double>();
        var images = new List<byte[]>();
        foreach (var request in requests)
        {
            var started = Stopwatch.GetTimestamp();
            Result? result = null;
            using var call = client.Generate(request, cancellationToken: ct);
            await foreach (var e in call.ResponseStream.ReadAllAsync(ct))
            {
                result = e.Result ?? result;
            }

            clientMs.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            timings.Add(result!);
            images.Add(result!.Image.ToByteArray());
        }

        // The first request warms up sessions and connections; it is not measured.
        var measured = timings.Skip(1).ToList();
        var stages = StageOrder.ToDictionary(s => s, s => measured.Average(r => r.Timings.Single(t => t.Stage == s).Milliseconds));
        var pipeline = (await client.ListModelsAsync(new ListModelsRequest(), cancellationToken: ct)).DefaultPipeline;
        return (stages, clientMs.Skip(1).Average(), images.Skip(1).ToList(), pipeline);
    }

    private static async Task<(Dictionary<string, double> Stages, List<byte[]> Images)> RunInProcessAsync(
        string repository, BenchOptions options, List<GenerateRequest> requests, CancellationToken ct)
    {
        using var stages = await InProcessStages.StartAsync(repository, options.IntraOpThreads, ct);
        var catalog = PipelineCatalog.Load(Path.Combine(Path.GetDirectoryName(repository)!, "pipelines.json"), repository);
        var generator = new Generator(stages, Options.Create(new StageResilienceOptions()), TimeProvider.System, NullLogger<Generator>.Instance);

        var results = new List<Result>();
        foreach (var request in requests)
        {
            var settings = GenerateSettings.FromRequest(request, catalog);
            results.Add(await generator.GenerateAsync(settings, _ => Task.CompletedTask, deadline: null, ct));
        }

        var measured = results.Skip(1).ToList();
        var timings = StageOrder.ToDictionary(s => s, s => measured.Average(r => r.Timings.Single(t => t.Stage == s).Milliseconds));
        return (timings, measured.Select(r => r.Image.ToByteArray()).ToList());
    }
}
