using System.Diagnostics;
using Grpc.Core;
using Muse.Cluster;
using Muse.Protos.V1;

namespace Muse.EndToEnd.Tests;

/// <summary>Two replicas per transformer stage, each test class its own cluster (the tests break replicas).</summary>
public class BreakableClusterFixture : ClusterFixture
{
    /// <summary>The orchestrator's step timeout here: generous against a step (milliseconds), short for the test.</summary>
    public static readonly TimeSpan StepTimeout = TimeSpan.FromSeconds(3);

    protected override int TransformerReplicas => 2;

    protected override IEnumerable<string> OrchestratorArguments =>
        [$"--Muse:Resilience:StepTimeout={StepTimeout}", "--Muse:Resilience:MaxProbeDelay=00:00:01"];
}

public sealed class KilledReplicaClusterFixture : BreakableClusterFixture;

public sealed class FrozenReplicaClusterFixture : BreakableClusterFixture;

/// <summary>An idle replica that dies costs no request, and serves again once restarted on its port.</summary>
public sealed class KilledReplicaTests(KilledReplicaClusterFixture fixture) : IClassFixture<KilledReplicaClusterFixture>
{
    [Fact]
    public async Task Generate_IdleReplicaKilledThenRestarted_NoRequestFailsAndItServesAgain()
    {
        // Both sr replicas are discovered and have served (least loaded, ties alternate on an idle cluster).
        var request = GenerateTests.Request(seed: 31, baseSteps: 4, srSteps: 4);
        var expected = GenerateTests.Png(await fixture.GenerateAsync(request));
        Assert.Equal(expected, GenerateTests.Png(await fixture.GenerateAsync(request)));

        // Kill an idle sr replica: no later request fails, whether it meets the dead replica (failed over at once),
        // the other one, or the restarted one.
        var supervised = fixture.Cluster.Processes.Single(p => p.Name == "sr#1");
        var victim = supervised.Current;
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(60));   // a hang guard, not a speed assertion
        victim.Kill();
        await victim.WaitForExitAsync(bound.Token);
        for (var i = 0; i < 4; i++)
        {
            Assert.Equal(expected, GenerateTests.Png(await fixture.GenerateAsync(request)));
        }

        // `muse up`'s supervisor restarts it on the same port; the orchestrator takes it back and gives it work again
        // (least loaded: the restarted replica is idle, so one of a few requests in a row lands there).
        await supervised.WaitUntilAsync(p => p is { State: SupervisedState.Serving, Restarts: 1 }, bound.Token);
        var restarted = supervised.Current;
        Assert.Equal(victim.Url, restarted.Url);
        var served = restarted.WaitForOutputAsync(line => line.Contains("Decode stream on", StringComparison.Ordinal), bound.Token);
        // Until it has served one (it is taken back within MaxProbeDelay once the orchestrator had marked it down).
        for (var i = 0; i < 40 && !served.IsCompleted; i++)
        {
            Assert.Equal(expected, GenerateTests.Png(await fixture.GenerateAsync(request)));
        }

        try
        {
            await served;
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException(
                "The restarted replica served no decode stream. Its output:\n" + string.Join('\n', restarted.RecentOutput)
                + "\nThe orchestrator's:\n" + string.Join('\n', fixture.Cluster.Orchestrator.RecentOutput));
        }
    }
}

/// <summary>A replica that stops answering (SIGSTOP) is left after the step timeout; the image does not change.</summary>
public sealed class FrozenReplicaTests(FrozenReplicaClusterFixture fixture) : IClassFixture<FrozenReplicaClusterFixture>
{
    private const int FreezeAtStep = 5;

    [Fact]
    public async Task Generate_ReplicaFrozenMidDecode_SameImageFromAnotherReplicaWithinTheStepTimeout()
    {
        // Requests 1 and 2 warm both base replicas (ties alternate on an idle cluster); request 3 is on replica 0 again.
        // 64 base steps: the freeze must land while the base decode still runs on the victim.
        var request = GenerateTests.Request(seed: 41, baseSteps: 64, srSteps: 4);
        var expected = GenerateTests.Png(await fixture.GenerateAsync(request));
        Assert.Equal(expected, GenerateTests.Png(await fixture.GenerateAsync(request)));

        var victim = fixture.Cluster.Replicas("base").Single(p => p.Replica == 0);
        var events = new List<GenerateEvent>();
        try
        {
            // Without a step timeout the request would wait for this deadline and fail (a gRPC deadline is wall-clock time).
            using var call = fixture.Client.Generate(request, deadline: TimeProvider.System.GetUtcNow().UtcDateTime.AddSeconds(45));
            await foreach (var e in call.ResponseStream.ReadAllAsync())
            {
                events.Add(e);
                if (e.Progress is { Stage: "base", Step: FreezeAtStep })
                {
                    Signal("STOP", victim.ProcessId);
                }
            }
        }
        finally
        {
            Signal("CONT", victim.ProcessId);
        }

        await ClusterFixture.OutputLineAsync(
            fixture.Cluster.Orchestrator,
            line => line.Contains("resuming on another replica", StringComparison.Ordinal) && line.Contains($":{victim.Url.Port}", StringComparison.Ordinal),
            "failover line for the frozen replica",
            TimeSpan.FromSeconds(30));
        Assert.Equal(expected, GenerateTests.Png(events));
        Assert.Equal(Enumerable.Range(1, 64), events.Where(e => e.Progress?.Stage == "base").Select(e => e.Progress.Step));
    }

    // SIGSTOP freezes the process without closing its sockets: the connection stays up and nothing answers.
    private static void Signal(string signal, int processId)
    {
        using var kill = Process.Start("kill", [$"-{signal}", processId.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        kill.WaitForExit();
    }
}
