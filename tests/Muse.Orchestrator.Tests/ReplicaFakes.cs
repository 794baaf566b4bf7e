using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Muse.Orchestrator.Replicas;

namespace Muse.Orchestrator.Tests;

/// <summary>A resolver whose answers the test sets; <c>Fail</c> makes a name fail to resolve.</summary>
internal sealed class FakeResolver : IReplicaResolver
{
    private readonly ConcurrentDictionary<string, IPAddress[]> _answers = new(StringComparer.Ordinal);

    public void Answer(string host, params string[] addresses) => _answers[host] = [.. addresses.Select(IPAddress.Parse)];

    public void Fail(string host) => _answers.TryRemove(host, out _);

    public Task<IReadOnlyList<IPAddress>> ResolveAsync(string host, CancellationToken ct) =>
        _answers.TryGetValue(host, out var addresses)
            ? Task.FromResult<IReadOnlyList<IPAddress>>(addresses)
            : Task.FromException<IReadOnlyList<IPAddress>>(new SocketException((int)SocketError.HostNotFound));
}

/// <summary>A probe that answers at once with the models set per endpoint, or fails for endpoints set down.</summary>
internal sealed class FakeProbe : IReplicaProbe
{
    private readonly ConcurrentDictionary<string, IReadOnlySet<string>> _serving = new(StringComparer.Ordinal);
    private readonly Channel<string> _probed = Channel.CreateUnbounded<string>();

    public void Serve(string endpoint, params string[] models) => _serving[endpoint] = models.ToHashSet(StringComparer.Ordinal);

    public void Stop(string endpoint) => _serving.TryRemove(endpoint, out _);

    /// <summary>The endpoint of the next probe made (each probe once).</summary>
    public ValueTask<string> NextProbeAsync(CancellationToken ct) => _probed.Reader.ReadAsync(ct);

    /// <summary>True when a probe was made that <see cref="NextProbeAsync"/> has not returned yet.</summary>
    public bool HasUnreadProbe => _probed.Reader.TryPeek(out _);

    public Task<IReadOnlySet<string>> ProbeAsync(StageReplica replica, TimeSpan timeout, CancellationToken ct)
    {
        _probed.Writer.TryWrite(replica.Endpoint);
        return _serving.TryGetValue(replica.Endpoint, out var models)
            ? Task.FromResult(models)
            : Task.FromException<IReadOnlySet<string>>(new RpcException(new Status(StatusCode.Unavailable, "connection refused")));
    }
}

/// <summary>Options whose value the test replaces, notifying listeners as a configuration reload would.</summary>
internal sealed class TestOptionsMonitor<T>(T value) : IOptionsMonitor<T>
{
    private readonly List<Action<T, string?>> _listeners = [];

    public T CurrentValue { get; private set; } = value;

    public T Get(string? name) => CurrentValue;

    public IDisposable OnChange(Action<T, string?> listener)
    {
        _listeners.Add(listener);
        return new Unsubscribe(() => _listeners.Remove(listener));
    }

    public void Set(T value)
    {
        CurrentValue = value;
        foreach (var listener in _listeners.ToList())
        {
            listener(value, Options.DefaultName);
        }
    }

    private sealed class Unsubscribe(Action action) : IDisposable
    {
        public void Dispose() => action();
    }
}

/// <summary>A logger that lets a test wait for a message by event id (the code under test's own signal).</summary>
internal sealed class RecordingLogger<T> : ILogger<T>
{
    private readonly Channel<(int EventId, string Message)> _entries = Channel.CreateUnbounded<(int, string)>();

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
        _entries.Writer.TryWrite((eventId.Id, formatter(state, exception)));

    /// <summary>The next message with <paramref name="eventId"/>, skipping others.</summary>
    public async Task<string> NextAsync(int eventId, CancellationToken ct)
    {
        while (true)
        {
            var entry = await _entries.Reader.ReadAsync(ct);
            if (entry.EventId == eventId)
            {
                return entry.Message;
            }
        }
    }
}
