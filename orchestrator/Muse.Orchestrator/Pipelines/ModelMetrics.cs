using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using Muse.Hosting;
using Muse.Protos.V1;
using Muse.Repository;

namespace Muse.Orchestrator.Pipelines;

/// <summary>What one (stage, model version) has done since the orchestrator started.</summary>
/// <param name="Requests">Requests that ran on the version (counted once they hold a slot), whatever their outcome.</param>
/// <param name="Failures">Of those, requests that ended with an error; a request the client cancelled is no failure.</param>
/// <param name="Completed">Of those, requests that finished; the latencies are theirs.</param>
/// <param name="P50Milliseconds">Median time spent in this stage by completed requests; 0 when none completed.</param>
/// <param name="P95Milliseconds">95th percentile of the same.</param>
public sealed record ModelVersionStats(long Requests, long Failures, long Completed, double P50Milliseconds, double P95Milliseconds);

/// <summary>
/// Counts requests, failures and stage latencies per (stage, model version), for <c>ListModels</c> (judging an A/B
/// split) and as OpenTelemetry instruments on the <see cref="MuseTelemetry.MeterName"/> meter:
/// <c>muse.orchestrator.model.requests</c> and <c>muse.orchestrator.model.failures</c> (counters tagged
/// <c>stage</c>, <c>model</c>, <c>version</c>) and <c>muse.orchestrator.stage.duration</c> (histogram, ms, tagged
/// <c>stage</c> — <c>queue</c>, <c>tokenize</c>, <c>text_encoder</c>, <c>base</c>, <c>sr</c>,
/// <c>image_tokenizer</c>, <c>total</c> — plus <c>model</c>/<c>version</c> of that stage, and <c>pipeline</c>).
/// </summary>
/// <remarks>
/// Singleton; thread-safe. A failed request counts as a failure of every version it ran on: the failure rate of a
/// version is that of the requests routed to it, which is what an A/B comparison between candidates of one stage
/// needs (routing of the other stages is independent of it).
/// </remarks>
public sealed class ModelMetrics
{
    private static readonly double[] DurationBuckets = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 20_000, 60_000, 120_000];
    private readonly ConcurrentDictionary<(string Stage, string Model), Counts> _counts = new();
    private readonly Counter<long> _requests;
    private readonly Counter<long> _failures;
    private readonly Histogram<double> _duration;

    /// <summary>Creates the instruments on a meter from <paramref name="meters"/> (which owns it).</summary>
    public ModelMetrics(IMeterFactory meters)
    {
        ArgumentNullException.ThrowIfNull(meters);
        var meter = meters.Create(MuseTelemetry.MeterName);
        _requests = meter.CreateCounter<long>("muse.orchestrator.model.requests", "{request}", "Requests that ran on a model version.");
        _failures = meter.CreateCounter<long>("muse.orchestrator.model.failures", "{request}", "Requests that ran on a model version and failed.");
        _duration = meter.CreateHistogram(
            "muse.orchestrator.stage.duration",
            "ms",
            "Time a finished request spent in each stage (queue and total included).",
            tags: null,
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = DurationBuckets });
    }

    /// <summary>The request holds a slot and starts running on <paramref name="choice"/>.</summary>
    public void Started(PipelineChoice choice)
    {
        ArgumentNullException.ThrowIfNull(choice);
        foreach (var (stage, model) in choice.Models)
        {
            Interlocked.Increment(ref For(stage, model).Requests);
            _requests.Add(1, Tags(stage, model));
        }
    }

    /// <summary>The request failed (not cancelled by its client).</summary>
    public void Failed(PipelineChoice choice)
    {
        ArgumentNullException.ThrowIfNull(choice);
        foreach (var (stage, model) in choice.Models)
        {
            Interlocked.Increment(ref For(stage, model).Failures);
            _failures.Add(1, Tags(stage, model));
        }
    }

    /// <summary>The request finished; <paramref name="timings"/> are its result's stage timings.</summary>
    public void Completed(PipelineChoice choice, IEnumerable<StageTiming> timings)
    {
        ArgumentNullException.ThrowIfNull(choice);
        ArgumentNullException.ThrowIfNull(timings);
        foreach (var timing in timings)
        {
            var model = ModelOf(choice, timing.Stage);
            var tags = model is null ? new TagList { { "stage", timing.Stage } } : Tags(timing.Stage, model);
            tags.Add("pipeline", choice.Pipeline);
            _duration.Record(timing.Milliseconds, tags);
            // A version's own latency is its stage's time; tokenize (editing) is the tokenizer's other direction.
            if (model is not null && timing.Stage == model.Stage)
            {
                For(model.Stage, model).Latency.Record(timing.Milliseconds);
            }
        }

        foreach (var (stage, model) in choice.Models)
        {
            Interlocked.Increment(ref For(stage, model).Completed);
        }
    }

    /// <summary>What <paramref name="modelId"/> (<c>name/version</c>) did in <paramref name="stage"/>; zeros when nothing yet.</summary>
    public ModelVersionStats Stats(string stage, string modelId)
    {
        if (!_counts.TryGetValue((stage, modelId), out var counts))
        {
            return new ModelVersionStats(0, 0, 0, 0, 0);
        }

        return new ModelVersionStats(
            Interlocked.Read(ref counts.Requests),
            Interlocked.Read(ref counts.Failures),
            Interlocked.Read(ref counts.Completed),
            counts.Latency.Quantile(0.5),
            counts.Latency.Quantile(0.95));
    }

    private Counts For(string stage, ModelManifest model) => _counts.GetOrAdd((stage, model.Id), static _ => new Counts());

    private static TagList Tags(string stage, ModelManifest model) =>
        new() { { "stage", stage }, { "model", model.Name }, { "version", model.Version } };

    private static ModelManifest? ModelOf(PipelineChoice choice, string stage) => stage switch
    {
        Stages.TextEncoder => choice.TextEncoder,
        Stages.Base => choice.Base,
        Stages.SuperResolution => choice.SuperResolution,
        Stages.ImageTokenizer or "tokenize" => choice.ImageTokenizer,
        _ => null,
    };

    private sealed class Counts
    {
#pragma warning disable SA1401, CA1051 // fields, for Interlocked
        public long Requests;
        public long Failures;
        public long Completed;
#pragma warning restore SA1401, CA1051
        public LatencyHistogram Latency { get; } = new();
    }
}
