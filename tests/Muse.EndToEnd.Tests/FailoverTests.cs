using Grpc.Core;
using Muse.Protos.V1;

namespace Muse.EndToEnd.Tests;

/// <summary>Two replicas per transformer stage; the orchestrator sends consecutive requests to alternate replicas.</summary>
public sealed class TwoReplicaClusterFixture : ClusterFixture
{
    protected override int TransformerReplicas => 2;
}

public sealed class FailoverTests(TwoReplicaClusterFixture fixture) : IClassFixture<TwoReplicaClusterFixture>
{
    [Fact]
    public async Task Generate_ReplicaKilledMidDecode_SameImageFromAnotherReplica()
    {
        // Requests 1 and 2 run on different replica processes (round-robin per stage, starting at replica 0).
        var request = GenerateTests.Request(seed: 21, baseSteps: 24, srSteps: 4);
        var onReplica0 = GenerateTests.Png(await fixture.GenerateAsync(request));
        var onReplica1 = GenerateTests.Png(await fixture.GenerateAsync(request));
        Assert.Equal(onReplica0, onReplica1);

        // Request 3 starts on replica 0 again; kill it mid-way through the base loop.
        var victim = fixture.Cluster.Replicas("base").Single(p => p.Replica == 0);
        using var call = fixture.Client.Generate(request);
        var events = new List<GenerateEvent>();
        await foreach (var e in call.ResponseStream.ReadAllAsync())
        {
            events.Add(e);
            if (e.Progress is { Stage: "base", Step: 5 })
            {
                victim.Kill();
            }
        }

        // The exit and the orchestrator's log line are observed asynchronously: under load they can trail the end of
        // the stream. Both are events; the bound only guards against a hang.
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await victim.WaitForExitAsync(bound.Token);
        await ClusterFixture.OutputLineAsync(
            fixture.Cluster.Orchestrator,
            line => line.Contains("resuming on another replica", StringComparison.Ordinal),
            "failover line",
            TimeSpan.FromSeconds(30));
        Assert.Equal(onReplica0, GenerateTests.Png(events));
        Assert.Equal(Enumerable.Range(1, 24), events.Where(e => e.Progress?.Stage == "base").Select(e => e.Progress.Step));
    }
}
