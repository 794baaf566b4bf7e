using Grpc.Core;
using Muse.Protos.V1;

namespace Muse.EndToEnd.Tests;

/// <summary>An orchestrator that runs one request at a time and lets two more wait.</summary>
public sealed class OneSlotClusterFixture : ClusterFixture
{
    protected override IEnumerable<string> OrchestratorArguments => ["--Muse:Queue:MaxConcurrent=1", "--Muse:Queue:MaxQueued=2"];
}

/// <summary>
/// The queue as callers see it. Every wait is on an event the orchestrator sends (a queue position, progress, the end
/// of a stream), never on the clock. A cancel reaches the server asynchronously, so each one is followed by the event
/// that shows the server has seen it (the next waiter moves up or starts), and every test ends with its other
/// requests run to the end (the server frees the slot before the stream ends): the next test finds the queue empty.
/// </summary>
public sealed class QueueTests(OneSlotClusterFixture fixture) : IClassFixture<OneSlotClusterFixture>
{
    // Guards against a hang only; nothing here measures speed.
    private static readonly TimeSpan Bound = TimeSpan.FromMinutes(2);

    [Fact]
    public async Task Generate_AtCapacity_WaitsReportingItsPositionAndBeyondTheBoundIsRefused()
    {
        // A: runs (long), until cancelled.
        using var cancelA = new CancellationTokenSource();
        using var a = await StartRunningAsync(cancelA.Token);

        // B: accepted, then told it is next in line; B2 behind it.
        var (b, bEvents) = await EnterQueueAsync(seed: 2);
        using var bCall = b;
        var (b2, b2Events) = await EnterQueueAsync(seed: 4);
        using var b2Call = b2;
        Assert.NotNull(bEvents[0].Accepted);
        Assert.Equal((1, 2), (bEvents[1].Queued?.Position, bEvents[1].Queued?.Capacity));
        Assert.Equal((2, 2), (b2Events[1].Queued?.Position, b2Events[1].Queued?.Capacity));

        // C: the queue is full.
        var error = await Assert.ThrowsAsync<RpcException>(() => fixture.GenerateAsync(GenerateTests.Request(seed: 3, baseSteps: 2, srSteps: 2)));
        Assert.Equal(StatusCode.ResourceExhausted, error.StatusCode);
        Assert.Contains("queue is full", error.Status.Detail, StringComparison.Ordinal);

        // A is cancelled: B starts and finishes, then B2.
        await cancelA.CancelAsync();
        await ReadToEndAsync(bCall, bEvents);
        await ReadToEndAsync(b2Call, b2Events);

        Assert.NotNull(bEvents[2].Progress);
        var result = bEvents[^1].Result;
        Assert.NotNull(result);
        Assert.Contains(result.Timings, t => t.Stage == "queue" && t.Milliseconds > 0);
        Assert.NotNull(b2Events[^1].Result);
    }

    [Fact]
    public async Task Generate_QueuedCallerCancels_LeavesTheQueue()
    {
        using var cancelA = new CancellationTokenSource();
        using var a = await StartRunningAsync(cancelA.Token);
        using var cancelB = new CancellationTokenSource();
        var (b, _) = await EnterQueueAsync(seed: 2, cancelB.Token);
        using var bCall = b;
        var (c, cEvents) = await EnterQueueAsync(seed: 3);
        using var cCall = c;
        Assert.Equal(2, cEvents[1].Queued?.Position);

        await cancelB.CancelAsync();
        await Assert.ThrowsAnyAsync<Exception>(() => bCall.ResponseStream.MoveNext());

        // The server has seen B leave once C moves up; B's place is free again: D may wait in it, while A runs.
        Assert.True(await cCall.ResponseStream.MoveNext().WaitAsync(Bound));
        cEvents.Add(cCall.ResponseStream.Current);
        Assert.Equal(1, cEvents[^1].Queued?.Position);
        var (d, dEvents) = await EnterQueueAsync(seed: 4);
        using var dCall = d;
        Assert.Equal(2, dEvents[1].Queued?.Position);

        await cancelA.CancelAsync();
        await ReadToEndAsync(cCall, cEvents);
        await ReadToEndAsync(dCall, dEvents);

        Assert.NotNull(cEvents[^1].Result);
        Assert.NotNull(dEvents[^1].Result);
    }

    // Starts a long request and waits for its first progress: it holds the only slot.
    private async Task<AsyncServerStreamingCall<GenerateEvent>> StartRunningAsync(CancellationToken ct)
    {
        var call = fixture.Client.Generate(GenerateTests.Request(seed: 1, baseSteps: 64, srSteps: 64), cancellationToken: ct);
        while (await call.ResponseStream.MoveNext(ct).WaitAsync(Bound, ct) && call.ResponseStream.Current.Progress is null)
        {
            Assert.Null(call.ResponseStream.Current.Queued);
        }

        return call;
    }

    // Starts a short request and reads its first two events: accepted, then queued.
    private async Task<(AsyncServerStreamingCall<GenerateEvent> Call, List<GenerateEvent> Events)> EnterQueueAsync(
        ulong seed, CancellationToken ct = default)
    {
        var call = fixture.Client.Generate(GenerateTests.Request(seed, baseSteps: 2, srSteps: 2), cancellationToken: ct);
        var events = new List<GenerateEvent>();
        for (var i = 0; i < 2; i++)
        {
            Assert.True(await call.ResponseStream.MoveNext(ct).WaitAsync(Bound, ct));
            events.Add(call.ResponseStream.Current);
        }

        Assert.NotNull(events[1].Queued);
        return (call, events);
    }

    private static async Task ReadToEndAsync(AsyncServerStreamingCall<GenerateEvent> call, List<GenerateEvent> events)
    {
        while (await call.ResponseStream.MoveNext().WaitAsync(Bound))
        {
            events.Add(call.ResponseStream.Current);
        }
    }
}
