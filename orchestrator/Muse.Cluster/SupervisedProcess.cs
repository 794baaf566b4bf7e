using Microsoft.Extensions.Logging;

namespace Muse.Cluster;

/// <summary>Where a <see cref="SupervisedProcess"/> stands.</summary>
public enum SupervisedState
{
    /// <summary>The process is up: it reported SERVING on <c>grpc.health.v1</c> and has not exited since.</summary>
    Serving,

    /// <summary>The process exited on its own; a new one is waiting out its backoff or starting.</summary>
    Restarting,

    /// <summary>It kept failing (<see cref="RestartPolicy.MaxRestarts"/> restarts in a row) and stays down.</summary>
    GaveUp,

    /// <summary>Stopped by its owner; no longer restarted.</summary>
    Stopped,
}

/// <summary>
/// One child of a local cluster, kept running: when its process exits on its own, a new one is started on the same
/// address after a backoff (<see cref="RestartPolicy"/>), and counts as up once it reports SERVING again.
/// </summary>
/// <remarks>
/// The same address matters: the orchestrator was given every stage's URL at start-up, and the gRPC channels it
/// holds reconnect to a URL by themselves, so a replica restarted there is used again without telling anyone.
/// (On Linux .NET sets <c>SO_REUSEADDR</c> on listening sockets, so the port of a killed process can be bound again
/// at once even while its old connections linger in TIME_WAIT.) A restart that cannot bind it fails and is retried
/// like any other. Owns the current process: <see cref="StopAsync"/> ends supervision first, then kills it.
/// </remarks>
public sealed class SupervisedProcess : IAsyncDisposable
{
    private readonly ChildLaunch _launch;
    private readonly RestartPolicy _policy;
    private readonly TimeSpan _startTimeout;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Lock _gate = new();
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private ClusterProcess _current;
    private SupervisedState _state = SupervisedState.Serving;
    private int _restarts;
    private Task _supervision = Task.CompletedTask;
    private int _stopped;

    private SupervisedProcess(ClusterProcess first, ChildLaunch launch, RestartPolicy policy, TimeSpan startTimeout, TimeProvider time, ILogger logger)
    {
        _current = first;
        Url = first.Url;
        // Every restart asks for the address the first start was given (a first start usually asks for port 0).
        _launch = launch.ListeningOn(Url);
        _policy = policy;
        _startTimeout = startTimeout;
        _time = time;
        _logger = logger;
    }

    /// <summary>Stage served: <c>text_encoder</c>, <c>image_tokenizer</c>, <c>base</c>, <c>sr</c> or <c>orchestrator</c>.</summary>
    public string Stage => _launch.Stage;

    /// <summary>Replica index within the stage, from 0.</summary>
    public int Replica => _launch.Replica;

    /// <summary><c>stage</c>, or <c>stage#replica</c> for transformer replicas.</summary>
    public string Name => Current.Name;

    /// <summary>The address every process of this child listens on: the first one's, reused by each restart.</summary>
    public Uri Url { get; }

    /// <summary>The process now, or the one that exited last while a new one is not yet up.</summary>
    public ClusterProcess Current
    {
        get
        {
            lock (_gate)
            {
                return _current;
            }
        }
    }

    /// <summary>Where supervision stands.</summary>
    public SupervisedState State
    {
        get
        {
            lock (_gate)
            {
                return _state;
            }
        }
    }

    /// <summary>Restarts that came up SERVING, over the child's whole life (not reset when it has been stable).</summary>
    public int Restarts
    {
        get
        {
            lock (_gate)
            {
                return _restarts;
            }
        }
    }

    /// <summary>
    /// Completes once <paramref name="condition"/> holds, checked now and after every change of <see cref="State"/>,
    /// <see cref="Current"/> or <see cref="Restarts"/>, so a caller waits for an event instead of polling.
    /// </summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired first.</exception>
    public async Task WaitUntilAsync(Func<SupervisedProcess, bool> condition, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(condition);
        while (true)
        {
            Task changed;
            lock (_gate)
            {
                if (condition(this))
                {
                    return;
                }

                changed = _changed.Task;
            }

            await changed.WaitAsync(cancellationToken);
        }
    }

    /// <summary>Ends supervision (a restart under way is abandoned and its process killed), then stops the process.</summary>
    /// <param name="timeout">How long to wait for the killed process to exit.</param>
    public async Task StopAsync(TimeSpan timeout)
    {
        await EndSupervisionAsync();
        var current = Current;
        await current.StopAsync(timeout);
        await current.DisposeAsync();
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        await StopAsync(TimeSpan.FromSeconds(10));
        _stopping.Dispose();
    }

    /// <summary>Starts watching <paramref name="first"/>, already SERVING, which was started from <paramref name="launch"/>.</summary>
    internal static SupervisedProcess Supervise(
        ClusterProcess first, ChildLaunch launch, RestartPolicy policy, TimeSpan startTimeout, TimeProvider time, ILogger logger)
    {
        policy.Validate();
        var supervised = new SupervisedProcess(first, launch, policy, startTimeout, time, logger);
        supervised._supervision = supervised.SuperviseAsync(supervised._stopping.Token);
        return supervised;
    }

    /// <summary>No more restarts; the process, if any runs, is left running.</summary>
    internal async Task EndSupervisionAsync()
    {
        if (Interlocked.Exchange(ref _stopped, 1) != 0)
        {
            return;
        }

        await _stopping.CancelAsync();
        await _supervision;
        Update(state: SupervisedState.Stopped);
    }

    private async Task SuperviseAsync(CancellationToken stopping)
    {
        try
        {
            await KeepRunningAsync(stopping);
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            // Stopped by the owner, while waiting for an exit, a backoff or a start.
        }
#pragma warning disable CA1031 // A bug here must not take the cluster down unseen: log it and stop restarting this child.
        catch (Exception e)
#pragma warning restore CA1031
        {
            LocalClusterLog.SupervisionFailed(_logger, e, Name);
            Update(state: SupervisedState.GaveUp);
        }
    }

    private async Task KeepRunningAsync(CancellationToken stopping)
    {
        var inARow = 0;
        while (true)
        {
            var exited = Current;
            await exited.WaitForExitAsync(stopping);
            if (ChildProcesses.ShuttingDown)
            {
                // This process is exiting and killed its children on purpose.
                Update(state: SupervisedState.Stopped);
                return;
            }

            var upFor = _time.GetElapsedTime(exited.ReadyAt);
            if (upFor >= _policy.StableAfter)
            {
                inARow = 0;
            }

            LocalClusterLog.ChildExited(_logger, Name, exited.ProcessId, exited.ExitCode ?? -1, upFor.TotalSeconds);
            var lastFailure = Describe(exited);
            while (true)
            {
                if (inARow >= _policy.MaxRestarts)
                {
                    LocalClusterLog.GaveUp(_logger, Name, inARow, lastFailure);
                    Update(state: SupervisedState.GaveUp);
                    return;
                }

                inARow++;
                var backoff = _policy.Backoff(inARow);
                Update(state: SupervisedState.Restarting);
                LocalClusterLog.Restarting(_logger, Name, ListeningLine.Format(Url), backoff.TotalSeconds, inARow, _policy.MaxRestarts);
                await Task.Delay(backoff, _time, stopping);
                try
                {
                    var next = await StartOnSameAddressAsync(stopping);
                    Update(state: SupervisedState.Serving, current: next, restarted: true);
                    await exited.DisposeAsync();
                    LocalClusterLog.Restarted(_logger, Name, next.ProcessId, ListeningLine.Format(Url), inARow, Restarts);
                    break;
                }
                catch (Exception e) when (!stopping.IsCancellationRequested)
                {
                    lastFailure = e.Message;
                    LocalClusterLog.RestartFailed(_logger, Name, inARow, e.Message);
                }
            }
        }
    }

    private async Task<ClusterProcess> StartOnSameAddressAsync(CancellationToken stopping)
    {
        var next = await ClusterProcess.StartAsync(_launch, _startTimeout, _time, _logger, stopping);
        if (ListeningLine.Format(next.Url) != ListeningLine.Format(Url))
        {
            await next.DisposeAsync();
            throw new InvalidOperationException(
                $"{next.Name} came back at {ListeningLine.Format(next.Url)}, but the cluster knows it at {ListeningLine.Format(Url)}.");
        }

        return next;
    }

    private void Update(SupervisedState state, ClusterProcess? current = null, bool restarted = false)
    {
        TaskCompletionSource changed;
        lock (_gate)
        {
            _state = state;
            _current = current ?? _current;
            _restarts += restarted ? 1 : 0;
            changed = _changed;
            _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        changed.SetResult();
    }

    private static string Describe(ClusterProcess exited)
    {
        var output = exited.RecentOutput.TakeLast(10).ToList();
        var code = $"exited with code {exited.ExitCode}";
        return output.Count == 0
            ? $"{code}; it wrote no output."
            : $"{code}. Its last output:{Environment.NewLine}  {string.Join(Environment.NewLine + "  ", output)}";
    }
}
