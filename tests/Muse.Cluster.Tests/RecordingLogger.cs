using System.Threading.Channels;
using Microsoft.Extensions.Logging;

namespace Muse.Cluster.Tests;

/// <summary>Receives the launcher's log (lifecycle events, and every line a child prints), so a test can wait for a line.</summary>
internal sealed class RecordingLogger : ILogger
{
    private readonly Channel<string> _messages = Channel.CreateUnbounded<string>();
    private readonly List<string> _all = [];

    /// <summary>Every message so far, oldest first.</summary>
    public IReadOnlyList<string> Messages
    {
        get
        {
            lock (_all)
            {
                return [.. _all];
            }
        }
    }

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        var message = formatter(state, exception);
        lock (_all)
        {
            _all.Add(message);
        }

        _messages.Writer.TryWrite(message);
    }

    /// <summary>Completes with the first message still unread here that matches; <paramref name="bound"/> guards against a hang.</summary>
    public async Task<string> WaitForAsync(Func<string, bool> match, TimeSpan bound)
    {
        using var giveUp = new CancellationTokenSource(bound);
        while (true)
        {
            var message = await _messages.Reader.ReadAsync(giveUp.Token);
            if (match(message))
            {
                return message;
            }
        }
    }

    /// <summary>Completes once the child has printed <paramref name="line"/> (logged as <c>[name] line</c>).</summary>
    public Task WaitForLineAsync(string line, TimeSpan bound) =>
        WaitForAsync(m => m.EndsWith("] " + line, StringComparison.Ordinal), bound);
}
