using Grpc.Core;
using Muse.Client;
using Muse.Cluster;
using Muse.Protos.V1;
using Xunit.Abstractions;

namespace Muse.EndToEnd.Tests;

/// <summary>A cluster of its own for the fault load test: its children are killed on purpose.</summary>
public sealed class FaultLoadClusterFixture : ClusterFixture
{
    protected override int TransformerReplicas => 2;
}

/// <summary>
/// The bounded fault load test: 8 clients share a fixed number of requests while a base and an sr replica are
/// SIGKILLed and the text encoder is killed once, each restarted by the cluster's supervisor. Every request must
/// end with its image (after the client's retries on retryable statuses): none lost, and each image byte-identical
/// to the same request run alone before the faults.
/// </summary>
public sealed class FaultLoadTests(FaultLoadClusterFixture fixture, ITestOutputHelper output) : IClassFixture<FaultLoadClusterFixture>
{
    // A hang guard for the whole test, not a speed assertion.
    private static readonly TimeSpan Bound = TimeSpan.FromMinutes(4);

    [Fact]
    public async Task Load_ReplicasAndTextEncoderKilled_NoRequestLostAndImagesUnchanged()
    {
        using var bound = new CancellationTokenSource(Bound);
        var plan = new LoadPlan(
            Clients: 1,
            Requests: 48,
            Prompts: [GenerateTests.Prompt, "a small blue square at the top"],
            FirstSeed: 500,
            Decoding: new DecodingOptions { BaseSteps = 6, SrSteps = 3 },
            Attempts: 8,
            RequestTimeout: TimeSpan.FromSeconds(60));

        // Each request alone first: the images every faulted run must reproduce.
        var solo = await LoadRun.RunAsync(fixture.Client, plan, TimeProvider.System, bound.Token);
        Assert.Equal(0, solo.Failed);

        // 8 clients run the same requests; the faults fire at points of the run (after 4 and 12 results), so they hit
        // requests in flight and the run still has most of its work ahead.
        var victims = new[] { "base#0", "sr#1", "text_encoder" }.Select(n => fixture.Cluster.Processes.Single(p => p.Name == n)).ToArray();
        var ended = 0;
        var killedDuringLoad = 0;
        void Fault(int results)
        {
            if (results == 4)
            {
                victims[0].Current.Kill();
                victims[1].Current.Kill();
                killedDuringLoad += 2;
            }
            else if (results == 12)
            {
                victims[2].Current.Kill();
                killedDuringLoad++;
            }
        }

        var loaded = await LoadRun.RunAsync(fixture.Client, plan with { Clients = 8 }, TimeProvider.System, bound.Token,
            _ => Fault(Interlocked.Increment(ref ended)));
        foreach (var victim in victims)
        {
            await victim.WaitUntilAsync(p => p is { State: SupervisedState.Serving, Restarts: 1 }, bound.Token);
        }

        output.WriteLine(
            $"solo: {solo.ImagesPerSecond:0.00} images/s; under faults, 8 clients: {loaded.ImagesPerSecond:0.00} images/s, " +
            $"p50 {loaded.LatencyQuantile(0.5):0} ms, p95 {loaded.LatencyQuantile(0.95):0} ms, p99 {loaded.LatencyQuantile(0.99):0} ms, " +
            $"retried {loaded.Retried}, lost {loaded.Failed} ({string.Join(", ", loaded.FailuresByStatus.Select(f => $"{f.Key} {f.Value}"))})");
        foreach (var lost in loaded.Outcomes.Where(o => o.Status != StatusCode.OK))
        {
            output.WriteLine($"lost request {lost.Index} after {lost.Attempts} tries: {lost.Status} {lost.Detail}");
        }

        Assert.Equal(3, killedDuringLoad);
        Assert.Equal(0, loaded.Failed);
        Assert.Equal(solo.Outcomes.Select(o => o.ImageSha256), loaded.Outcomes.Select(o => o.ImageSha256));
        Assert.All(victims, victim => Assert.Equal(1, victim.Restarts));
    }
}
