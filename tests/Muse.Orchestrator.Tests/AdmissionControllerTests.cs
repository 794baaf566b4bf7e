using System.Threading.Channels;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Muse.Hosting;
using Muse.Orchestrator.Generation;

namespace Muse.Orchestrator.Tests;

public sealed class AdmissionControllerTests
{
    // Guards against a hang only; nothing here measures speed.
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Enter_BelowMaxConcurrent_AdmittedWithoutQueueEvents()
    {
        var sut = CreateSut(maxConcurrent: 2, maxQueued: 1);
        var positions = new List<int>();

        using var first = sut.Enter();
        using var second = sut.Enter();
        await first.WaitAsync(p => Record(positions, p), CancellationToken.None).WaitAsync(Bound);
        await second.WaitAsync(p => Record(positions, p), CancellationToken.None).WaitAsync(Bound);

        Assert.True(first.IsAdmitted);
        Assert.True(second.IsAdmitted);
        Assert.Empty(positions);
        Assert.Equal((2, 0), (sut.Running, sut.Waiting));
    }

    [Fact]
    public void Enter_QueueFull_ResourceExhaustedSayingSo()
    {
        var sut = CreateSut(maxConcurrent: 1, maxQueued: 2);
        using var running = sut.Enter();
        using var waiting1 = sut.Enter();
        using var waiting2 = sut.Enter();

        var error = Assert.Throws<ResourceExhaustedException>(() => sut.Enter());

        Assert.Contains("queue is full", error.Message, StringComparison.Ordinal);
        Assert.Equal((1, 2), (sut.Running, sut.Waiting));
    }

    [Fact]
    public async Task Dispose_RunningRequest_FirstWaiterStartsAndTheRestMoveUp()
    {
        var sut = CreateSut(maxConcurrent: 1, maxQueued: 4);
        var running = sut.Enter();
        using var a = sut.Enter();
        using var b = sut.Enter();
        var aPositions = Channel.CreateUnbounded<int>();
        var bPositions = Channel.CreateUnbounded<int>();
        var aWait = a.WaitAsync(p => Write(aPositions, p), CancellationToken.None);
        var bWait = b.WaitAsync(p => Write(bPositions, p), CancellationToken.None);
        Assert.Equal(1, await Next(aPositions));
        Assert.Equal(2, await Next(bPositions));

        running.Dispose();

        await aWait.WaitAsync(Bound);
        Assert.True(a.IsAdmitted);
        Assert.False(b.IsAdmitted);
        Assert.Equal(1, await Next(bPositions));
        Assert.False(bWait.IsCompleted);
        Assert.Equal((1, 1), (sut.Running, sut.Waiting));

        a.Dispose();
        await bWait.WaitAsync(Bound);
        Assert.True(b.IsAdmitted);
    }

    [Fact]
    public async Task WaitAsync_DeadlinePassesWhileQueued_LeavesTheQueueAndThoseBehindMoveUp()
    {
        var time = new FakeTimeProvider();
        var sut = CreateSut(maxConcurrent: 1, maxQueued: 2);
        using var running = sut.Enter();
        var early = sut.Enter();
        using var late = sut.Enter();
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(5), time);
        var latePositions = Channel.CreateUnbounded<int>();
        var earlyWait = early.WaitAsync(_ => Task.CompletedTask, deadline.Token);
        var lateWait = late.WaitAsync(p => Write(latePositions, p), CancellationToken.None);
        Assert.Equal(2, await Next(latePositions));

        time.Advance(TimeSpan.FromSeconds(5));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => earlyWait.WaitAsync(Bound));
        early.Dispose();

        Assert.Equal(1, await Next(latePositions));
        Assert.Equal((1, 1), (sut.Running, sut.Waiting));
        using var another = sut.Enter();        // the freed place can be taken again
        Assert.Equal(2, sut.Waiting);
        Assert.False(lateWait.IsCompleted);
    }

    [Fact]
    public async Task Dispose_Twice_FreesOneSlotOnly()
    {
        var sut = CreateSut(maxConcurrent: 1, maxQueued: 1);
        var running = sut.Enter();
        using var waiting = sut.Enter();

        running.Dispose();
        running.Dispose();
        await waiting.WaitAsync(_ => Task.CompletedTask, CancellationToken.None).WaitAsync(Bound);

        Assert.Equal((1, 0), (sut.Running, sut.Waiting));
        using var next = sut.Enter();
        Assert.False(next.IsAdmitted);
    }

    private static AdmissionController CreateSut(int maxConcurrent, int maxQueued) =>
        new(Options.Create(new QueueOptions { MaxConcurrent = maxConcurrent, MaxQueued = maxQueued }));

    private static Task Record(List<int> positions, int position)
    {
        positions.Add(position);
        return Task.CompletedTask;
    }

    private static Task Write(Channel<int> positions, int position) => positions.Writer.WriteAsync(position).AsTask();

    private static async Task<int> Next(Channel<int> positions) => await positions.Reader.ReadAsync().AsTask().WaitAsync(Bound);
}
