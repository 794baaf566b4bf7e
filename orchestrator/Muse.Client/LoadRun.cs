using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using Grpc.Core;
using Muse.Protos.V1;
using MuseClient = Muse.Protos.V1.Muse.MuseClient;

namespace Muse.Client;

/// <summary>What a load run sends: <see cref="Requests"/> Generate calls shared by <see cref="Clients"/> concurrent clients.</summary>
/// <param name="Clients">Concurrent callers, ≥ 1.</param>
/// <param name="Requests">Requests in all, ≥ 1; request i has seed <see cref="FirstSeed"/> + i and prompt i mod the prompt list.</param>
/// <param name="Prompts">Prompts, used in turn.</param>
/// <param name="FirstSeed">Seed of request 0.</param>
/// <param name="Decoding">Decoding options of every request (null = the pipeline's defaults).</param>
/// <param name="Pipeline">Pipeline name; empty = the default one.</param>
/// <param name="NegativePrompt">Negative prompt of every request; empty = none.</param>
/// <param name="Attempts">Tries per request: a retryable status (<see cref="IsRetryable"/>) is tried again, up to this many times in all.</param>
/// <param name="RequestTimeout">Deadline of one attempt.</param>
/// <param name="Duration">When set, a time-boxed run: no request starts after this much time (those running end), and
/// <see cref="Requests"/> only caps the total.</param>
public sealed record LoadPlan(
    int Clients,
    int Requests,
    IReadOnlyList<string> Prompts,
    ulong FirstSeed = 1000,
    DecodingOptions? Decoding = null,
    string Pipeline = "",
    string NegativePrompt = "",
    int Attempts = 4,
    TimeSpan? RequestTimeout = null,
    TimeSpan? Duration = null)
{
    /// <summary>The request with index <paramref name="index"/>.</summary>
    public GenerateRequest Request(int index)
    {
        var request = new GenerateRequest
        {
            Prompt = Prompts[index % Prompts.Count],
            Seed = FirstSeed + (ulong)index,
            Pipeline = Pipeline,
            NegativePrompt = NegativePrompt,
        };
        if (Decoding is not null)
        {
            request.Decoding = Decoding.Clone();
        }

        return request;
    }
}

/// <summary>The outcome of one request of a load run.</summary>
/// <param name="Index">Request index.</param>
/// <param name="Status">Final status: <see cref="StatusCode.OK"/> when an image came back.</param>
/// <param name="Attempts">Tries it took.</param>
/// <param name="Milliseconds">From the first try's start to the result (or the last failure).</param>
/// <param name="ImageSha256">SHA-256 of the image bytes (hex), when it succeeded.</param>
/// <param name="Detail">The final failure's status detail (first 200 characters), when it failed.</param>
public sealed record LoadOutcome(int Index, StatusCode Status, int Attempts, double Milliseconds, string? ImageSha256, string? Detail = null);

/// <summary>Aggregate figures of a load run.</summary>
public sealed record LoadReport(LoadPlan Plan, IReadOnlyList<LoadOutcome> Outcomes, double WallSeconds)
{
    /// <summary>Requests that ended with an image.</summary>
    public int Succeeded => Outcomes.Count(o => o.Status == StatusCode.OK);

    /// <summary>Requests that ended without one, after every try: the run's lost requests.</summary>
    public int Failed => Outcomes.Count - Succeeded;

    /// <summary>Successful requests that needed more than one try.</summary>
    public int Retried => Outcomes.Count(o => o.Status == StatusCode.OK && o.Attempts > 1);

    /// <summary>Images per second of wall time.</summary>
    public double ImagesPerSecond => WallSeconds > 0 ? Succeeded / WallSeconds : 0;

    /// <summary>Failures by final status.</summary>
    public IReadOnlyDictionary<string, int> FailuresByStatus => Outcomes
        .Where(o => o.Status != StatusCode.OK)
        .GroupBy(o => o.Status.ToString(), StringComparer.Ordinal)
        .ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);

    /// <summary>The <paramref name="quantile"/> (0..1) of successful requests' latency in ms (nearest rank); 0 when none.</summary>
    public double LatencyQuantile(double quantile)
    {
        var sorted = Outcomes.Where(o => o.Status == StatusCode.OK).Select(o => o.Milliseconds).Order().ToArray();
        if (sorted.Length == 0)
        {
            return 0;
        }

        var rank = (int)Math.Ceiling(quantile * sorted.Length);
        return sorted[Math.Clamp(rank - 1, 0, sorted.Length - 1)];
    }

    /// <summary>The figures as one JSON-ready dictionary (numbers invariant).</summary>
    public IReadOnlyDictionary<string, object> Summary() => new Dictionary<string, object>(StringComparer.Ordinal)
    {
        ["clients"] = Plan.Clients,
        ["requests"] = Outcomes.Count,
        ["succeeded"] = Succeeded,
        ["failed"] = Failed,
        ["retried"] = Retried,
        ["seconds"] = Math.Round(WallSeconds, 3),
        ["imagesPerSecond"] = Math.Round(ImagesPerSecond, 3),
        ["p50Ms"] = Math.Round(LatencyQuantile(0.50), 1),
        ["p95Ms"] = Math.Round(LatencyQuantile(0.95), 1),
        ["p99Ms"] = Math.Round(LatencyQuantile(0.99), 1),
        ["failuresByStatus"] = FailuresByStatus,
    };
}

/// <summary>
/// A bounded load generator for the public Muse service (<c>muse load</c>, the fault load test): a fixed number of
/// Generate requests shared by concurrent clients, each retried on a retryable status with backoff, so a run
/// reports what a well-behaved client sees: images/s, latency quantiles and the requests lost.
/// </summary>
public static class LoadRun
{
    /// <summary>
    /// Statuses a client may try again: the service or one of its replicas is briefly unavailable, overloaded or
    /// restarting. Everything else (bad input, a pinned model that is not served, an internal error) is final.
    /// </summary>
    public static bool IsRetryable(StatusCode status) =>
        status is StatusCode.Unavailable or StatusCode.ResourceExhausted or StatusCode.Aborted or StatusCode.DeadlineExceeded;

    /// <summary>Runs <paramref name="plan"/> against <paramref name="client"/>; completes when every request has ended.</summary>
    /// <param name="client">The service.</param>
    /// <param name="plan">What to send.</param>
    /// <param name="time">Clock of the latencies and of the retry backoff.</param>
    /// <param name="ct">Cancels the run.</param>
    /// <param name="onOutcome">Called as each request ends (from the client's task), e.g. to act at a point of the run.</param>
    public static async Task<LoadReport> RunAsync(
        MuseClient client, LoadPlan plan, TimeProvider time, CancellationToken ct, Action<LoadOutcome>? onOutcome = null)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(time);
        ArgumentOutOfRangeException.ThrowIfLessThan(plan.Clients, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(plan.Requests, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(plan.Attempts, 1);
        if (plan.Prompts.Count == 0)
        {
            throw new ArgumentException("At least one prompt is needed.", nameof(plan));
        }

        var outcomes = new ConcurrentBag<LoadOutcome>();
        var next = -1;
        var started = time.GetTimestamp();
        bool TimeLeft() => plan.Duration is not { } duration || time.GetElapsedTime(started) < duration;
        var workers = Enumerable.Range(0, plan.Clients).Select(_ => Task.Run(async () =>
        {
            for (var index = Interlocked.Increment(ref next); index < plan.Requests && TimeLeft(); index = Interlocked.Increment(ref next))
            {
                var outcome = await RequestAsync(client, plan, index, time, ct);
                outcomes.Add(outcome);
                onOutcome?.Invoke(outcome);
            }
        }, ct));
        await Task.WhenAll(workers);
        var seconds = time.GetElapsedTime(started).TotalSeconds;
        return new LoadReport(plan, [.. outcomes.OrderBy(o => o.Index)], seconds);
    }

    private static async Task<LoadOutcome> RequestAsync(MuseClient client, LoadPlan plan, int index, TimeProvider time, CancellationToken ct)
    {
        var request = plan.Request(index);
        var started = time.GetTimestamp();
        var timeout = plan.RequestTimeout ?? TimeSpan.FromMinutes(2);
        var status = StatusCode.Unknown;
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                var deadline = time.GetUtcNow().UtcDateTime + timeout;
                using var call = client.Generate(request, deadline: deadline, cancellationToken: ct);
                byte[]? image = null;
                await foreach (var reply in call.ResponseStream.ReadAllAsync(ct))
                {
                    if (reply.EventCase == GenerateEvent.EventOneofCase.Result)
                    {
                        image = reply.Result.Image.ToByteArray();
                    }
                }

                if (image is null)
                {
                    // A stream that ends without a result is a broken contract, not a retryable hiccup.
                    return new LoadOutcome(index, StatusCode.Internal, attempt, time.GetElapsedTime(started).TotalMilliseconds, null, "the stream ended without a result");
                }

                return new LoadOutcome(index, StatusCode.OK, attempt, time.GetElapsedTime(started).TotalMilliseconds, Convert.ToHexStringLower(SHA256.HashData(image)));
            }
            catch (RpcException ex) when (!ct.IsCancellationRequested)
            {
                status = ex.StatusCode;
                if (!IsRetryable(status) || attempt >= plan.Attempts)
                {
                    var detail = ex.Status.Detail.Length > 200 ? ex.Status.Detail[..200] : ex.Status.Detail;
                    return new LoadOutcome(index, status, attempt, time.GetElapsedTime(started).TotalMilliseconds, null, detail);
                }

                await Task.Delay(Backoff(ex, attempt), time, ct);
            }
        }
    }

    // The server's retry-after (seconds) when it sent one, else 0.25 s doubling per try.
    private static TimeSpan Backoff(RpcException ex, int attempt)
    {
        var retryAfter = ex.Trailers.GetValue("retry-after");
        return retryAfter is not null && double.TryParse(retryAfter, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) && seconds >= 0
            ? TimeSpan.FromSeconds(Math.Min(seconds, 30))
            : TimeSpan.FromMilliseconds(250 * (1 << Math.Min(attempt - 1, 6)));
    }
}
