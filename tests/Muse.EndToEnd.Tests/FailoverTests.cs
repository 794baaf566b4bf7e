using Grpc.Core;
using Muse.Cluster;
using Muse.Protos.V1;

namespace Muse.EndToEnd.Tests;

/// <summary>Two replicas per transformer stage; the orchestrator gives each stream to the least loaded one.</summary>
public sealed class TwoReplicaClusterFixture : ClusterFixture
{
    protected override int TransformerReplicas => 2;
}

public sealed class FailoverTests(TwoReplicaClusterFixture fixture) : IClassFixture<TwoReplicaClusterFixture>
{
    [Fact]
    public async Task Generate_ReplicaKilledMidDecode_SameImageFromAnotherReplica()
    {
        // Requests 1 and 2: the reference image; whichever replicas served them, they agree.
        // Heavy steps (eight images a step): the client reads progress events behind the decode, and the kill must land
        // while base steps are still to come.
        var request = GenerateTests.Request(seed: 21, baseSteps: 32, srSteps: 4);
        request.NumImages = 8;
        var onReplica0 = GenerateTests.Png(await fixture.GenerateAsync(request));
        var onReplica1 = GenerateTests.Png(await fixture.GenerateAsync(request));
        Assert.Equal(onReplica0, onReplica1);

        // Request 3: kill the base replica that decodes it, mid-way through the base loop. The orchestrator picks the
        // least loaded replica (ties in turn), so which one that is depends on when the earlier streams let go; the
        // replica doing the work is the one whose CPU time grows while the steps come in.
        var replicas = fixture.Cluster.Replicas("base").ToList();
        using var call = fixture.Client.Generate(request);
        var events = new List<GenerateEvent>();
        long[]? cpuAtFirstStep = null;
        ClusterProcess? victim = null;
        await foreach (var e in call.ResponseStream.ReadAllAsync())
        {
            events.Add(e);
            if (e.Progress is { Stage: "base", Step: 1 })
            {
                cpuAtFirstStep = [.. replicas.Select(r => CpuNanoseconds(r.ProcessId))];
            }
            else if (e.Progress is { Stage: "base", Step: 4 } && cpuAtFirstStep is not null)
            {
                victim = replicas.MaxBy(r => CpuNanoseconds(r.ProcessId) - cpuAtFirstStep[replicas.IndexOf(r)]);
                victim!.Kill();
            }
        }

        Assert.NotNull(victim);
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
        Assert.Equal(Enumerable.Range(1, 32), events.Where(e => e.Progress?.Stage == "base").Select(e => e.Progress.Step));
    }

    // CPU time of every thread of a process, in nanoseconds (the first field of each thread's schedstat).
    private static long CpuNanoseconds(int processId) =>
        Directory.EnumerateDirectories($"/proc/{processId}/task").Sum(task =>
        {
            try
            {
                return long.Parse(File.ReadAllText(Path.Combine(task, "schedstat")).Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);
            }
            catch (IOException)
            {
                return 0L;   // the thread ended between listing and reading
            }
        });
}
