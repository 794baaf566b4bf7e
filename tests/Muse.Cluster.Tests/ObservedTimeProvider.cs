using System.Threading.Channels;
using Microsoft.Extensions.Time.Testing;

namespace Muse.Cluster.Tests;

/// <summary>A fake clock that also reports each timer the code under test starts, so a test advances it only once the code waits.</summary>
internal sealed class ObservedTimeProvider : FakeTimeProvider
{
    private readonly Channel<TimeSpan> _started = Channel.CreateUnbounded<TimeSpan>();

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var timer = base.CreateTimer(callback, state, dueTime, period);
        _started.Writer.TryWrite(dueTime);
        return timer;
    }

    /// <summary>
    /// Completes once a timer of <paramref name="dueTime"/> has been started (since the last such wait), skipping timers
    /// of other lengths; <paramref name="bound"/> guards against a hang.
    /// </summary>
    public async Task WaitForTimerAsync(TimeSpan dueTime, TimeSpan bound)
    {
        using var giveUp = new CancellationTokenSource(bound);
        while (await _started.Reader.ReadAsync(giveUp.Token) != dueTime)
        {
        }
    }
}
