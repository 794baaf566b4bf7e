using System.Diagnostics;
using Grpc.Core;
using Grpc.Net.Client;
using Muse.Decoding;
using Muse.ModelBuilder.Architectures;
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

    /// <summary>Re-competition of committed tokens in both stages (decoding options <c>recompete</c>, <c>sr_recompete</c>). Default false.</summary>
    public bool Recompete { get; init; }

    /// <summary>Super-resolution steps. Default 8.</summary>
    public int SrSteps { get; init; } = 8;

    /// <summary>ONNX Runtime threads per operator in every session, both modes. Default 1: two cores, five processes.</summary>
    public int IntraOpThreads { get; init; } = 1;

    /// <summary>Prompt of every request.</summary>
    public string Prompt { get; init; } = "a large red circle on the left";

    /// <summary>Model repository; default located as the stages do.</summary>
    public string? Repository { get; init; }

    /// <summary>Pipeline of every request; null (default) = the repository's default pipeline.</summary>
    public string? Pipeline { get; init; }

    /// <summary>Which ways to run: both side by side (default), or only one of them.</summary>
    public BenchMode Mode { get; init; } = BenchMode.Both;

    /// <summary>
    /// Whether idle ONNX Runtime threads spin (both modes). Default true (ONNX Runtime's own default); false keeps the
    /// sessions of one process from spinning on the cores another session computes on.
    /// </summary>
    public bool AllowSpinning { get; init; } = true;

    /// <summary>Whether sessions keep activations in ONNX Runtime's CPU arena between runs (both modes). Default true.</summary>
    public bool CpuMemoryArena { get; init; } = true;

    /// <summary>Side of the square fp32 GEMM that measures the machine's peak; 0 skips it. Default 2048.</summary>
    public int PeakGemmSize { get; init; } = 2048;
}

/// <summary>How <see cref="PipelineBench.RunAsync"/> runs the requests.</summary>
public enum BenchMode
{
    /// <summary>Split (one process per stage, gRPC) and in-process side by side: the transport's cost.</summary>
    Both,

    /// <summary>In-process only: the stage code and the models, for models too large to load twice.</summary>
    InProcess,

    /// <summary>Split only.</summary>
    Split,
}

/// <summary>
/// Achieved arithmetic rate of one transformer stage: FLOPs of a step (counted from the architecture, times the rows
/// a step runs: 2 with classifier-free guidance) over its median time per step, and its share of the GEMM peak.
/// </summary>
public sealed record StageThroughput(string Stage, double FlopsPerStep, double MsPerStep, double PeakFlopsPerSecond)
{
    /// <summary>Achieved FLOP/s.</summary>
    public double FlopsPerSecond => FlopsPerStep / (MsPerStep / 1000);

    /// <summary>Achieved over peak; NaN without a peak.</summary>
    public double Utilization => PeakFlopsPerSecond > 0 ? FlopsPerSecond / PeakFlopsPerSecond : double.NaN;
}

/// <summary>What loading the models and running the requests cost the in-process run.</summary>
/// <param name="LoadSeconds">Time to load every model of the repository (sessions created, weights read).</param>
/// <param name="LoadedRssBytes">Resident memory after loading.</param>
/// <param name="PeakRssBytes">Peak resident memory of the process by the end of the run.</param>
public sealed record InProcessCost(double LoadSeconds, long LoadedRssBytes, long PeakRssBytes);

/// <summary>Median milliseconds of one stage in both modes (NaN for a mode that did not run).</summary>
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

    /// <summary>How the requests ran.</summary>
    public BenchMode Mode { get; init; }

    /// <summary>Base and sr achieved FLOP/s and utilisation (from the in-process run, else the split one).</summary>
    public IReadOnlyList<StageThroughput> Throughput { get; init; } = [];

    /// <summary>The GEMM peak measured in the same run; null when skipped.</summary>
    public GemmPeakResult? Peak { get; init; }

    /// <summary>The transport's share alone (<see cref="TransportFloor"/>); null without a split run.</summary>
    public TransportFloor? Floor { get; init; }

    /// <summary>Load time and memory of the in-process run; null in split mode.</summary>
    public InProcessCost? InProcess { get; init; }

    /// <summary>The 1-, 5- and 15-minute load averages at the start and the end of the run (Linux; empty elsewhere).</summary>
    public IReadOnlyList<double> LoadAverageStart { get; init; } = [];

    /// <summary>Load averages at the end of the run.</summary>
    public IReadOnlyList<double> LoadAverageEnd { get; init; } = [];

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
        var loadStart = LoadAverage();
        var repository = ModelRepository.Locate(options.Repository);
        var catalog = PipelineCatalog.Load(Path.Combine(Path.GetDirectoryName(repository)!, "pipelines.json"), repository);
        var pipeline = options.Pipeline ?? catalog.DefaultPipeline;
        var runSplit = options.Mode != BenchMode.InProcess;
        var runInProcess = options.Mode != BenchMode.Split;

        // The peak is sampled before the models load and again after the requests, and the faster sample counts: on a
        // shared machine either sample can fall in a busy moment of other tenants, and a slow "peak" would overstate
        // the stages' utilisation.
        GemmPeakResult? SamplePeak() => options.PeakGemmSize > 0
            ? GemmPeak.Measure(EffectiveThreads(options), options.AllowSpinning, options.PeakGemmSize)
            : null;
        var peakBefore = SamplePeak();

        LocalCluster? cluster = null;
        GrpcChannel? channel = null;
        InProcessStages? stages = null;
        try
        {
            Protos.V1.Muse.MuseClient? client = null;
            if (runSplit)
            {
                var clusterOptions = new LocalClusterOptions { Repository = repository };
                clusterOptions.StageArguments.Add($"--Muse:Inference:IntraOpThreads={options.IntraOpThreads}");
                clusterOptions.StageArguments.Add($"--Muse:Inference:AllowSpinning={(options.AllowSpinning ? "true" : "false")}");
                clusterOptions.StageArguments.Add($"--Muse:Inference:CpuMemoryArena={(options.CpuMemoryArena ? "true" : "false")}");
                cluster = await LocalCluster.StartAsync(clusterOptions, cancellationToken: ct);
                channel = GrpcChannel.ForAddress(cluster.OrchestratorUrl);
                client = new Protos.V1.Muse.MuseClient(channel);
            }

            Generator? generator = null;
            InProcessCost? cost = null;
            if (runInProcess)
            {
                var loading = Stopwatch.GetTimestamp();
                stages = await InProcessStages.StartAsync(repository, EffectiveThreads(options), options.AllowSpinning, options.CpuMemoryArena, ct);
                cost = new InProcessCost(Stopwatch.GetElapsedTime(loading).TotalSeconds, Environment.WorkingSet, 0);
                generator = new Generator(new StageRunner(stages, Options.Create(new StageResilienceOptions()), TimeProvider.System, NullLogger<StageRunner>.Instance), stages, TimeProvider.System);
            }

            var split = new List<(Result Result, double ClientMs)>();
            var inProcess = new List<Result>();
            var warmup = options.WarmupRequests;
            for (var i = 0; i < warmup + options.Requests; i++)
            {
                var request = new GenerateRequest
                {
                    Prompt = options.Prompt,
                    Seed = (ulong)(1000 + i),
                    Pipeline = pipeline,
                    Decoding = new DecodingOptions
                    {
                        BaseSteps = options.BaseSteps, SrSteps = options.SrSteps, Recompete = options.Recompete, SrRecompete = options.Recompete,
                    },
                };
                if (client is not null)
                {
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
                }

                if (generator is not null)
                {
                    inProcess.Add(await generator.GenerateAsync(GenerateSettings.FromRequest(request, catalog), _ => Task.CompletedTask, deadline: null, ct));
                }
            }

            // The warm-up requests bring sessions, connections and the JIT's tiers to their steady state; they are not measured.
            var measuredSplit = split.Skip(warmup).ToList();
            var measuredInProcess = inProcess.Skip(warmup).ToList();
            // A stage the pipeline lacks (sr of an imported aMUSEd pipeline) has no timings: NaN like an unrun mode.
            double StageMs(IReadOnlyCollection<Result> results, string stage) =>
                results.SelectMany(r => r.Timings.Where(t => t.Stage == stage)).Select(t => t.Milliseconds).ToList() is { Count: > 0 } ms
                    ? Median(ms) : double.NaN;
            var splitResults = measuredSplit.Select(m => m.Result).ToList();
            var stagesTable = StageOrder
                .Select(s => new StageLatency(s, StageMs(splitResults, s), StageMs(measuredInProcess, s)))
                .ToList();

            // Every request counts for identity, the warm-up ones too: more seeds, same claim.
            var identical = !(runSplit && runInProcess) || split.Zip(inProcess).All(p => p.First.Result.Image.Equals(p.Second.Image));
            // One Encode, each decoding step of both stages, one Detokenize.
            var floor = cluster is null ? null : await TransportFloor.MeasureAsync(
                cluster.Replicas(Stages.Base)[0].Url, 2 + options.BaseSteps + options.SrSteps, samples: 200, ct);
            var peakAfter = SamplePeak();
            var peak = peakBefore is null || peakAfter is null ? null
                : (peakAfter.FlopsPerSecond > peakBefore.FlopsPerSecond ? peakAfter : peakBefore) with
                {
                    Samples = [peakBefore.FlopsPerSecond, peakAfter.FlopsPerSecond],
                };
            var choice = catalog.Choose(pipeline, "bench");
            var guided = Guidance.NeedsUnconditional((float)catalog.File.Pipelines[pipeline].Defaults.GuidanceScale);
            var timed = runInProcess ? measuredInProcess : splitResults;
            // A pipeline without SR has only the base stage to count; FLOPs are modelled for Muse's own transformers
            // (architecture with a kind), not for an imported aMUSEd U-ViT, whose latency the stage table still reports.
            var throughput = new[] { (Stages.Base, (ModelManifest?)choice.Base, options.BaseSteps), (Stages.SuperResolution, choice.SuperResolution, options.SrSteps) }
                .Where(t => t.Item3 > 0 && t.Item2?.Architecture is { } a && a.TryGetProperty("kind", out _))
                .Select(t => new StageThroughput(
                    t.Item1,
                    TransformerFlops.PerSequence((TransformerConfig)ArchitectureConfig.Parse(t.Item2!.Architecture!.Value.GetRawText())) * (guided ? 2 : 1),
                    StageMs(timed, t.Item1) / t.Item3,
                    peak?.FlopsPerSecond ?? 0))
                .ToList();
            return new BenchResult(
                stagesTable,
                measuredSplit.Count == 0 ? double.NaN : Median(measuredSplit.Select(m => m.ClientMs)),
                StageMs(measuredInProcess, "total"),
                identical,
                options.Requests,
                pipeline)
            {
                WarmupRequests = warmup,
                Mode = options.Mode,
                Throughput = throughput,
                Peak = peak,
                Floor = floor,
                InProcess = cost is null ? null : cost with { PeakRssBytes = PeakRss() },
                LoadAverageStart = loadStart,
                LoadAverageEnd = LoadAverage(),
            };
        }
        finally
        {
            stages?.Dispose();
            channel?.Dispose();
            if (cluster is not null)
            {
                await cluster.DisposeAsync();
            }
        }
    }

    /// <summary>Intra-op threads of the in-process sessions and the peak: the configured count, or one per physical core when 0.</summary>
    public static int EffectiveThreads(BenchOptions options) =>
        options?.IntraOpThreads is > 0 ? options.IntraOpThreads : PhysicalCores();

    /// <summary>
    /// Physical cores (distinct physical id/core id pairs of /proc/cpuinfo), else the logical processor count: a GEMM
    /// thread per hyper-thread only contends for the same FMA units.
    /// </summary>
    public static int PhysicalCores()
    {
        const string CpuInfo = "/proc/cpuinfo";
        if (!File.Exists(CpuInfo))
        {
            return Environment.ProcessorCount;
        }

        var cores = new HashSet<(string, string)>();
        var physical = "";
        foreach (var line in File.ReadLines(CpuInfo))
        {
            var parts = line.Split(':', 2, StringSplitOptions.TrimEntries);
            if (parts.Length != 2)
            {
                continue;
            }

            if (parts[0] == "physical id")
            {
                physical = parts[1];
            }
            else if (parts[0] == "core id")
            {
                cores.Add((physical, parts[1]));
            }
        }

        return cores.Count > 0 ? Math.Min(cores.Count, Environment.ProcessorCount) : Environment.ProcessorCount;
    }

    // /proc/loadavg: "0.52 0.58 0.59 1/467 12345".
    private static double[] LoadAverage() =>
        File.Exists("/proc/loadavg")
            ? [.. File.ReadAllText("/proc/loadavg").Split(' ').Take(3).Select(v => double.Parse(v, System.Globalization.CultureInfo.InvariantCulture))]
            : [];

    // VmHWM: the peak resident set of this process (Linux); elsewhere the current working set.
    private static long PeakRss()
    {
        const string Status = "/proc/self/status";
        var line = File.Exists(Status) ? File.ReadLines(Status).FirstOrDefault(l => l.StartsWith("VmHWM:", StringComparison.Ordinal)) : null;
        return line is null
            ? Environment.WorkingSet
            : long.Parse(line.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture) * 1024;
    }

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
    }
}
