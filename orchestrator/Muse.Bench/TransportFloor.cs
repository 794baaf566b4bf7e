using System.Diagnostics;
using Grpc.Health.V1;
using Grpc.Net.Client;

namespace Muse.Bench;

/// <summary>
/// The least a split request can cost over the in-process one on this machine: an empty <c>grpc.health.v1</c> Check
/// from this process to a stage process, over loopback and the same gRPC stack the orchestrator uses, times the stage
/// round trips of one request (the text encoding, each decoding step, the detokenization). No serving code runs in
/// such a call, so whatever the services do, the split cannot get below <see cref="RatioFloor"/>.
/// </summary>
/// <param name="MillisecondsPerHop">Median of the measured round trips.</param>
/// <param name="HopsPerRequest">Stage round trips of one bench request.</param>
/// <param name="Samples">Round trips measured (after as many unmeasured ones).</param>
public sealed record TransportFloor(double MillisecondsPerHop, int HopsPerRequest, int Samples)
{
    /// <summary>Hops × the median round trip.</summary>
    public double MillisecondsPerRequest => MillisecondsPerHop * HopsPerRequest;

    /// <summary>
    /// (in-process + the floor) / in-process: the split / in-process ratio of a split that adds only the transport to
    /// a request of <paramref name="inProcessMs"/> (NaN when the in-process mode did not run).
    /// </summary>
    public double RatioFloor(double inProcessMs) => (inProcessMs + MillisecondsPerRequest) / inProcessMs;

    /// <summary>Measures <paramref name="samples"/> round trips to <paramref name="stage"/> after as many warm-up calls.</summary>
    public static async Task<TransportFloor> MeasureAsync(Uri stage, int hopsPerRequest, int samples, CancellationToken ct)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(samples, 1);
        using var channel = GrpcChannel.ForAddress(stage);
        var health = new Health.HealthClient(channel);
        var request = new HealthCheckRequest();
        var times = new double[samples];
        for (var i = -samples; i < samples; i++)
        {
            var started = Stopwatch.GetTimestamp();
            await health.CheckAsync(request, deadline: TimeProvider.System.GetUtcNow().UtcDateTime.AddSeconds(10), cancellationToken: ct);
            if (i >= 0)
            {
                times[i] = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            }
        }

        Array.Sort(times);
        return new TransportFloor(times[samples / 2], hopsPerRequest, samples);
    }
}
