using Grpc.Core;
using Muse.Protos.V1;

namespace Muse.EndToEnd.Tests;

/// <summary>An orchestrator that runs one request at a time and lets one more wait.</summary>
public sealed class OneSlotClusterFixture : ClusterFixture
{
    protected override IEnumerable<string> OrchestratorArguments => ["--Muse:Queue:MaxConcurrent=1", "--Muse:Queue:MaxQueued=1"];
}

public sealed class QueueTests(OneSlotClusterFixture fixture) : IClassFixture<OneSlotClusterFixture>
{
    private static readonly TimeSpan Bound = TimeSpan.FromMinutes(2);

    [Fact]
    public async Task Generate_AtCapacity_WaitsReportingItsPositionAndBeyondTheBoundIsRefused()
    {
        await WaitUntilIdleAsync();
        // A: runs (long), until cancelled.
        using var cancelA = new CancellationTokenSource();
        using var a = fixture.Client.Generate(GenerateTests.Request(seed: 1, baseSteps: 64, srSteps: 64), cancellationToken: cancelA.Token);
        var aEvents = a.ResponseStream;
        while (await aEvents.MoveNext().WaitAsync(Bound) && aEvents.Current.Progress is null)
        {
        }

        // B: accepted, then told it is next in line.
        using var b = fixture.Client.Generate(GenerateTests.Request(seed: 2, baseSteps: 2, srSteps: 2));
        var bEvents = new List<GenerateEvent>();
        Assert.True(await b.ResponseStream.MoveNext().WaitAsync(Bound));
        bEvents.Add(b.ResponseStream.Current);
        Assert.True(await b.ResponseStream.MoveNext().WaitAsync(Bound));
        bEvents.Add(b.ResponseStream.Current);
        Assert.NotNull(bEvents[0].Accepted);
        Assert.Equal((1, 1), (bEvents[1].Queued?.Position, bEvents[1].Queued?.Capacity));

        // C: the queue is full.
        var error = await Assert.ThrowsAsync<RpcException>(() => fixture.GenerateAsync(GenerateTests.Request(seed: 3, baseSteps: 2, srSteps: 2)));
        Assert.Equal(StatusCode.ResourceExhausted, error.StatusCode);
        Assert.Contains("queue is full", error.Status.Detail, StringComparison.Ordinal);

        // A is cancelled: B starts and finishes.
        await cancelA.CancelAsync();
        while (await b.ResponseStream.MoveNext().WaitAsync(Bound))
        {
            bEvents.Add(b.ResponseStream.Current);
        }

        Assert.NotNull(bEvents[2].Progress);
        var result = bEvents[^1].Result;
        Assert.NotNull(result);
        Assert.Contains(result.Timings, t => t.Stage == "queue" && t.Milliseconds > 0);
    }

    [Fact]
    public async Task Generate_QueuedCallerCancels_LeavesTheQueue()
    {
        await WaitUntilIdleAsync();
        using var cancelA = new CancellationTokenSource();
        using var a = fixture.Client.Generate(GenerateTests.Request(seed: 1, baseSteps: 64, srSteps: 64), cancellationToken: cancelA.Token);
        while (await a.ResponseStream.MoveNext().WaitAsync(Bound) && a.ResponseStream.Current.Progress is null)
        {
        }

        using var cancelB = new CancellationTokenSource();
        using var b = fixture.Client.Generate(GenerateTests.Request(seed: 2, baseSteps: 2, srSteps: 2), cancellationToken: cancelB.Token);
        var bEvents = new List<GenerateEvent>();
        while (await b.ResponseStream.MoveNext().WaitAsync(Bound))
        {
            bEvents.Add(b.ResponseStream.Current);
            if (b.ResponseStream.Current.Queued is not null)
            {
                break;
            }
        }

        await cancelB.CancelAsync();
        await Assert.ThrowsAnyAsync<Exception>(() => b.ResponseStream.MoveNext());

        // B's place is free again (once the server has seen the cancel): C may wait in it, and is next, while A runs.
        var (c, cEvents) = await EnterQueueAsync();
        using var cCall = c;

        Assert.Equal(1, cEvents[1].Queued?.Position);
        await cancelA.CancelAsync();
        while (await cCall.ResponseStream.MoveNext().WaitAsync(Bound))
        {
            cEvents.Add(cCall.ResponseStream.Current);
        }

        Assert.NotNull(cEvents[^1].Result);
    }

    // A previous test's cancelled request frees its slot once the server has seen the cancel: wait until a short
    // request runs without queueing (bounded).
    private async Task WaitUntilIdleAsync()
    {
        for (var attempt = 0; attempt < 50; attempt++)
        {
            try
            {
                var events = await fixture.GenerateAsync(GenerateTests.Request(seed: 9, baseSteps: 1, srSteps: 1)).WaitAsync(Bound);
                if (!events.Any(e => e.Queued is not null))
                {
                    return;
                }
            }
            catch (RpcException ex) when (ex.StatusCode == StatusCode.ResourceExhausted)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(100));
            }
        }

        Assert.Fail("The orchestrator never became idle.");
    }

    // Starts a request and reads its first two events, retrying for a few seconds while the queue is still full.
    private async Task<(AsyncServerStreamingCall<GenerateEvent> Call, List<GenerateEvent> Events)> EnterQueueAsync()
    {
        for (var attempt = 0; ; attempt++)
        {
            var call = fixture.Client.Generate(GenerateTests.Request(seed: 3, baseSteps: 2, srSteps: 2));
            try
            {
                var events = new List<GenerateEvent>();
                for (var i = 0; i < 2; i++)
                {
                    Assert.True(await call.ResponseStream.MoveNext().WaitAsync(Bound));
                    events.Add(call.ResponseStream.Current);
                }

                return (call, events);
            }
            catch (RpcException ex) when (ex.StatusCode == StatusCode.ResourceExhausted && attempt < 50)
            {
                call.Dispose();
                await Task.Delay(TimeSpan.FromMilliseconds(100));
            }
        }
    }
}
