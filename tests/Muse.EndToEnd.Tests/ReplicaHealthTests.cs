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

        // Kill an idle sr replica: every later request is served by the other one, none fails.
        var victim = fixture.Cluster.Replicas("sr").Single(p => p.Replica == 1);
        victim.Kill();
        using (var exit = new CancellationTokenSource(TimeSpan.FromSeconds(30)))
        {
            await victim.WaitForExitAsync(exit.Token);
        }

        for (var i = 0; i < 4; i++)
        {
            Assert.Equal(expected, GenerateTests.Png(await fixture.GenerateAsync(request)));
        }

        await ClusterFixture.OutputLineAsync(
            fixture.Cluster.Orchestrator, line => line.Contains("marked down", StringComparison.Ordinal) && line.Contains(Port(victim), StringComparison.Ordinal),
            "'marked down' line for the killed replica", TimeSpan.FromSeconds(30));

        // Restarted on the same port, it is probed back within seconds and gets work again.
        using var restarted = RestartedReplica.Start(victim, fixture.Cluster.Repository);
        try
        {
            await ClusterFixture.OutputLineAsync(
                fixture.Cluster.Orchestrator, line => line.Contains("is up", StringComparison.Ordinal) && line.Contains(Port(victim), StringComparison.Ordinal),
                "'is up' line for the restarted replica", TimeSpan.FromSeconds(40));
            for (var i = 0; i < 2; i++)
            {
                Assert.Equal(expected, GenerateTests.Png(await fixture.GenerateAsync(request)));
            }

            using var served = new CancellationTokenSource(TimeSpan.FromSeconds(15));
            try
            {
                await restarted.DecodeFinished.WaitAsync(served.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException(
                    "The restarted replica served no decode stream. Its output:\n" + string.Join('\n', restarted.Output)
                    + "\nThe orchestrator's:\n" + string.Join('\n', fixture.Cluster.Orchestrator.RecentOutput));
            }
        }
        finally
        {
            restarted.Kill();
        }
    }

    private static string Port(ClusterProcess process) => $":{process.Url.Port}";

    /// <summary>A transformer started by hand on a killed replica's address, with the same models.</summary>
    private sealed class RestartedReplica : IDisposable
    {
        private readonly Process _process;
        private readonly TaskCompletionSource _decodeFinished = new(TaskCreationOptions.RunContinuationsAsynchronously);

        private RestartedReplica(Process process) => _process = process;

        /// <summary>Every line the replica wrote.</summary>
        public System.Collections.Concurrent.ConcurrentQueue<string> Output { get; } = new();

        /// <summary>Completes when the replica has ended a decode stream it served.</summary>
        public Task DecodeFinished => _decodeFinished.Task;

        public static RestartedReplica Start(ClusterProcess killed, string repository)
        {
            var host = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } sdk && File.Exists(sdk) ? sdk : "dotnet";
            var start = new ProcessStartInfo(host)
            {
                UseShellExecute = false,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                RedirectStandardInput = true,
            };
            string[] arguments =
            [
                ServiceBinaries.Resolve(ServiceBinaries.Transformer),
                "--urls", ListeningLine.Format(killed.Url),
                $"--Muse:Inference:Repository={repository}",
                "--Muse:Inference:IntraOpThreads=1",
                .. killed.Models.Select((id, i) => $"--Muse:Inference:Models:{i}={id}"),
            ];
            foreach (var argument in arguments)
            {
                start.ArgumentList.Add(argument);
            }

            // Stops on its own when this test host ends, as cluster children do.
            start.Environment["Muse__Hosting__StopWhenStdinCloses"] = "true";
            var replica = new RestartedReplica(new Process { StartInfo = start });
            replica._process.OutputDataReceived += (_, e) =>
            {
                if (e.Data is not null)
                {
                    replica.Output.Enqueue(e.Data);
                }

                // "finished" or "cancelled by the client after N step(s)": the orchestrator ends a finished stream by
                // disposing it, which the replica may see as a reset.
                if (e.Data?.Contains("Decode stream on", StringComparison.Ordinal) == true)
                {
                    replica._decodeFinished.TrySetResult();
                }
            };
            replica._process.ErrorDataReceived += (_, _) => { };
            replica._process.Start();
            replica._process.BeginOutputReadLine();
            replica._process.BeginErrorReadLine();
            return replica;
        }

        public void Kill()
        {
            try
            {
                _process.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
                // Never started or already gone.
            }
        }

        public void Dispose()
        {
            Kill();
            _process.Dispose();
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
