using Grpc.Health.V1;
using Grpc.Net.Client;
using Muse.Cluster;
using Muse.Protos.V1;

namespace Muse.EndToEnd.Tests;

/// <summary>
/// Supervision on a real cluster (two replicas per transformer stage): a replica SIGKILLed while idle is started again
/// on its own address, health-checked, and used again, while the rest of the cluster stays up untouched.
/// </summary>
public sealed class SupervisionTests(TwoReplicaClusterFixture fixture) : IClassFixture<TwoReplicaClusterFixture>
{
    // A hang guard for the whole test's waits on the cluster, not a speed assertion.
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Cluster_ReplicaKilledWhileIdle_StaysUpAndRestartsItOnItsAddress()
    {
        var cluster = fixture.Cluster;
        var orchestrator = cluster.Orchestrator;
        var victim = cluster.Processes.Single(p => p.Name == "base#1");
        var killed = victim.Current;
        var request = GenerateTests.Request(seed: 33, baseSteps: 4, srSteps: 2);
        var expected = GenerateTests.Png(await fixture.GenerateAsync(request));
        using var bound = new CancellationTokenSource(Bound);

        killed.Kill();
        await victim.WaitUntilAsync(p => p.State == SupervisedState.Restarting, bound.Token);
        // While it is down the orchestrator keeps answering. (A Generate routed to the dead replica in this gap is the
        // orchestrator's to carry: today a stream that cannot even open is not failed over, see StageRunner.)
        var models = await fixture.Client.ListModelsAsync(new ListModelsRequest(), cancellationToken: bound.Token);
        await victim.WaitUntilAsync(p => p is { State: SupervisedState.Serving, Restarts: 1 }, bound.Token);
        var restarted = victim.Current;
        var health = await CheckHealthAsync(restarted.Url, bound.Token);
        var stageInfo = await GetStageInfoAsync(restarted.Url, cluster.InternalToken, bound.Token);
        // Round-robin sends two requests in a row to both replicas; one that cannot reach its replica fails, so both
        // succeeding means the orchestrator's channel to the restarted one works again.
        var afterwards = new[]
        {
            GenerateTests.Png(await fixture.GenerateAsync(request, ct: bound.Token)),
            GenerateTests.Png(await fixture.GenerateAsync(request, ct: bound.Token)),
        };

        Assert.Equal(137, killed.ExitCode);
        Assert.NotEmpty(models.Pipelines);
        Assert.NotEqual(killed.ProcessId, restarted.ProcessId);
        Assert.Equal(killed.Url, restarted.Url);
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, health);
        Assert.Equal(killed.Models.Order(StringComparer.Ordinal), stageInfo.Models.Select(m => $"{m.Name}/{m.Version}").Order(StringComparer.Ordinal));
        Assert.Equal([expected, expected], afterwards);
        // Nothing else was touched: the orchestrator is the same process, and no other child was restarted.
        Assert.Same(orchestrator, cluster.Orchestrator);
        Assert.False(orchestrator.HasExited);
        Assert.All(cluster.Processes.Where(p => p != victim), p => Assert.Equal((SupervisedState.Serving, 0), (p.State, p.Restarts)));
    }

    private static async Task<HealthCheckResponse.Types.ServingStatus> CheckHealthAsync(Uri url, CancellationToken ct)
    {
        using var channel = GrpcChannel.ForAddress(url);
        var reply = await new Health.HealthClient(channel).CheckAsync(new HealthCheckRequest(), cancellationToken: ct);
        return reply.Status;
    }

    // Stages of a local cluster require its credential (health checks above need none).
    private static async Task<GetStageInfoReply> GetStageInfoAsync(Uri url, string internalToken, CancellationToken ct)
    {
        using var channel = MuseChannels.Create(url, bearer: internalToken);
        return await new StageInfo.StageInfoClient(channel).GetStageInfoAsync(new GetStageInfoRequest(), cancellationToken: ct);
    }
}
