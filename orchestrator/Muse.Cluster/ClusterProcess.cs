using System.Diagnostics;
using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Net.Client;
using Microsoft.Extensions.Logging;
using Muse.Repository;

namespace Muse.Cluster;

/// <summary>
/// One child process of a local cluster (a stage replica or the orchestrator), started by
/// <see cref="LocalCluster"/> and listening on <see cref="Url"/>.
/// </summary>
/// <remarks>
/// Owns the OS process: disposing it kills the whole process tree. Its stdout and stderr are drained for the
/// process's whole life (a full pipe would block the child); the last lines are kept for error reports.
/// </remarks>
public sealed class ClusterProcess : IAsyncDisposable
{
    private const int TailLines = 40;
    private const string SetsidPath = "/usr/bin/setsid";

    /// <summary>How long start-up waits between two <c>grpc.health.v1</c> checks that were not SERVING.</summary>
    internal static readonly TimeSpan HealthPollInterval = TimeSpan.FromMilliseconds(200);

    private readonly Process _process;
    private readonly ILogger _logger;
    private readonly Queue<string> _tail = new();
    private readonly TaskCompletionSource<Uri> _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly List<(Func<string, bool> Match, TaskCompletionSource<string> Line)> _outputWaiters = [];
    private Task _exited = Task.CompletedTask;
    private int? _exitCode;
    private Uri? _url;
    private bool _disposed;
    private bool _released;

    private ClusterProcess(string stage, int replica, IReadOnlyList<string> models, Process process, ILogger logger)
    {
        Stage = stage;
        Replica = replica;
        Models = models;
        _process = process;
        _logger = logger;
        ProcessId = process.Id;
    }

    /// <summary>Stage served: <c>text_encoder</c>, <c>image_tokenizer</c>, <c>base</c>, <c>sr</c> or <c>orchestrator</c>.</summary>
    public string Stage { get; }

    /// <summary>Replica index within the stage, from 0.</summary>
    public int Replica { get; }

    /// <summary>Model versions (<c>name/version</c>) the process was told to load; empty for the orchestrator.</summary>
    public IReadOnlyList<string> Models { get; }

    /// <summary><c>stage</c>, or <c>stage#replica</c> for transformer replicas.</summary>
    public string Name => Stage is Stages.Base or Stages.SuperResolution ? $"{Stage}#{Replica}" : Stage;

    /// <summary>The address the process reported in its <c>MUSE_LISTENING</c> line.</summary>
    public Uri Url => _url ?? throw new InvalidOperationException($"{Name} has not reported its address yet.");

    /// <summary>The address of the orchestrator's web listener from its <c>MUSE_WEB</c> line; null until printed, and for stages.</summary>
    public Uri? WebUrl { get; private set; }

    /// <summary>OS process id.</summary>
    public int ProcessId { get; }

    /// <summary>True once the process has exited (killed or on its own).</summary>
    public bool HasExited => _exited.IsCompleted;

    /// <summary>The exit code once the process has exited (137 after a SIGKILL on Linux); null while it runs.</summary>
    public int? ExitCode => _exited.IsCompleted ? _exitCode : null;

    /// <summary>When the process was first SERVING, as a timestamp of the <see cref="TimeProvider"/> it was started with.</summary>
    internal long ReadyAt { get; private set; }

    /// <summary>The last lines the process wrote to stdout and stderr, oldest first (at most 40).</summary>
    public IReadOnlyList<string> RecentOutput
    {
        get
        {
            lock (_tail)
            {
                return [.. _tail];
            }
        }
    }

    /// <summary>Kills the process and every process it started, without waiting; a no-op once it has exited.</summary>
    /// <remarks>Fault tests use this to take a replica down mid-request.</remarks>
    public void Kill()
    {
        if (Volatile.Read(ref _released))
        {
            // Disposed after it exited (a supervised child that was restarted): the handle is gone, and so is the process.
            return;
        }

        try
        {
            _process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // Already exited, or never started: nothing left to kill.
        }
    }

    /// <summary>
    /// Completes with the first line of <see cref="RecentOutput"/>, or of the output still to come, that matches
    /// <paramref name="match"/> (stderr lines start with <c>stderr: </c>), so a caller waits for the process to say
    /// something instead of polling its output.
    /// </summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired first.</exception>
    public Task<string> WaitForOutputAsync(Func<string, bool> match, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(match);
        var waiter = (Match: match, Line: new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously));
        lock (_tail)
        {
            if (_tail.FirstOrDefault(match) is { } seen)
            {
                return Task.FromResult(seen);
            }

            _outputWaiters.Add(waiter);
        }

        return WaitForLineAsync();

        async Task<string> WaitForLineAsync()
        {
            try
            {
                return await waiter.Line.Task.WaitAsync(cancellationToken);
            }
            finally
            {
                lock (_tail)
                {
                    _outputWaiters.Remove(waiter);
                }
            }
        }
    }

    /// <summary>Completes when the process has exited and its output has been read to the end.</summary>
    public Task WaitForExitAsync(CancellationToken cancellationToken = default) => _exited.WaitAsync(cancellationToken);

    /// <summary>Kills the process tree and waits up to <paramref name="timeout"/> for it to exit.</summary>
    public async Task StopAsync(TimeSpan timeout)
    {
        Kill();
        try
        {
            await _exited.WaitAsync(timeout);
        }
        catch (TimeoutException)
        {
            LocalClusterLog.StopTimedOut(_logger, Name, ProcessId, timeout.TotalSeconds);
        }
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        await StopAsync(TimeSpan.FromSeconds(10));
        ChildProcesses.Untrack(this);
        Volatile.Write(ref _released, true);
        _process.Dispose();
    }

    /// <summary>
    /// Starts <paramref name="fileName"/>, waits for its <c>MUSE_LISTENING</c> line and then for SERVING on
    /// <c>grpc.health.v1</c>. On failure the process is killed and the exception carries its last output lines.
    /// </summary>
    /// <remarks>The two waits and the health polls between them run on <paramref name="time"/>.</remarks>
    /// <exception cref="TimeoutException">No address line, or no SERVING, within <paramref name="timeout"/> each.</exception>
    /// <exception cref="InvalidOperationException">The process exited before it was ready.</exception>
    internal static Task<ClusterProcess> StartAsync(
        string stage,
        int replica,
        IReadOnlyList<string> models,
        string fileName,
        IEnumerable<string> arguments,
        IEnumerable<KeyValuePair<string, string>> environment,
        TimeSpan timeout,
        TimeProvider time,
        ILogger logger,
        CancellationToken cancellationToken) =>
        StartAsync(new ChildLaunch(stage, replica, models, fileName, [.. arguments], [.. environment]), timeout, time, logger, cancellationToken);

    /// <summary>Starts <paramref name="launch"/>; otherwise as the overload above.</summary>
    internal static async Task<ClusterProcess> StartAsync(
        ChildLaunch launch, TimeSpan timeout, TimeProvider time, ILogger logger, CancellationToken cancellationToken)
    {
        var (stage, replica, models, fileName, arguments, environment) = launch;
        // Ctrl-C in a terminal signals the whole foreground process group. Children in a session of their own (setsid
        // execs in place, so the process id stays the child's) hear only their parent, which cancels the running call
        // first and then stops them in order, instead of dying under it mid-request.
        var detach = OperatingSystem.IsLinux() && File.Exists(SetsidPath);
        var startInfo = new ProcessStartInfo(detach ? SetsidPath : fileName)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
        };
        if (detach)
        {
            startInfo.ArgumentList.Add(fileName);
        }

        foreach (var argument in arguments)
        {
            startInfo.ArgumentList.Add(argument);
        }

        // The child stops when its stdin pipe closes, i.e. when this process ends, even by SIGKILL (ParentWatch).
        startInfo.Environment["Muse__Hosting__StopWhenStdinCloses"] = "true";
        foreach (var (key, value) in environment)
        {
            startInfo.Environment[key] = value;
        }

        var process = new Process { StartInfo = startInfo, EnableRaisingEvents = true };
        ClusterProcess? child = null;
        try
        {
            process.Start();
            child = new ClusterProcess(stage, replica, models, process, logger);
            ChildProcesses.Track(child);
            LocalClusterLog.ProcessStarted(logger, child.Name, child.ProcessId, startInfo.FileName, string.Join(' ', startInfo.ArgumentList));
            child.BeginReading();

            await child.WaitListeningAsync(timeout, time, cancellationToken);
            await child.WaitServingAsync(launch.ServerCertificate, timeout, time, cancellationToken);
            child.ReadyAt = time.GetTimestamp();
            LocalClusterLog.ProcessReady(logger, child.Name, child.ProcessId, child.Url);
            return child;
        }
        catch
        {
            if (child is not null)
            {
                await child.DisposeAsync();
            }
            else
            {
                process.Dispose();
            }

            throw;
        }
    }

    private void BeginReading()
    {
        _process.OutputDataReceived += (_, e) => OnOutput(e.Data, isError: false);
        _process.ErrorDataReceived += (_, e) => OnOutput(e.Data, isError: true);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        // Only now: WaitForExitAsync waits for the end of the streams only if reading has begun, and a child that
        // exits at once must still have its last words in the error report.
        _exited = WatchExitAsync();
    }

    private async Task WatchExitAsync()
    {
        // With asynchronous reads, WaitForExitAsync also waits for both streams to reach end of file.
        await _process.WaitForExitAsync(CancellationToken.None);
        var exitCode = _process.ExitCode;
        _exitCode = exitCode;
        LocalClusterLog.ProcessExited(_logger, Name, ProcessId, exitCode);
        _listening.TrySetException(new InvalidOperationException(Describe($"{Name} exited with code {exitCode} before it listened")));
    }

    private void OnOutput(string? line, bool isError)
    {
        if (line is null)
        {
            return;
        }

        lock (_tail)
        {
            if (_tail.Count == TailLines)
            {
                _tail.Dequeue();
            }

            var entry = isError ? "stderr: " + line : line;
            _tail.Enqueue(entry);
            foreach (var waiter in _outputWaiters.Where(w => w.Match(entry)))
            {
                waiter.Line.TrySetResult(entry);
            }
        }

        LocalClusterLog.ChildOutput(_logger, Name, line);
        if (ListeningLine.TryParse(line, out var url))
        {
            // The address is stored before the signal: a waiter released by it reads Url at once. The first line wins.
            var reachable = ListeningLine.Reachable(url);
            if (Interlocked.CompareExchange(ref _url, reachable, null) is null)
            {
                _listening.TrySetResult(reachable);
            }
        }
        else if (ListeningLine.TryParse(line, ListeningLine.WebMarker, out var web))
        {
            WebUrl = ListeningLine.Reachable(web);
        }
    }

    private async Task WaitListeningAsync(TimeSpan timeout, TimeProvider time, CancellationToken cancellationToken)
    {
        try
        {
            await _listening.Task.WaitAsync(timeout, time, cancellationToken);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException(Describe(
                $"{Name} printed no '{ListeningLine.Marker} <url>' line within {timeout.TotalSeconds:0} s"));
        }
    }

    private async Task WaitServingAsync(
        System.Security.Cryptography.X509Certificates.X509Certificate2? certificate, TimeSpan timeout, TimeProvider time, CancellationToken cancellationToken)
    {
        // Health checks are open on every Muse process: no credential needed, only trust in a TLS child's certificate.
        using var channel = MuseChannels.Create(Url, pinned: certificate);
        var health = new Health.HealthClient(channel);
        using var timer = new CancellationTokenSource(timeout, time);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timer.Token);
        var lastStatus = "no answer";
        try
        {
            while (true)
            {
                if (HasExited)
                {
                    throw new InvalidOperationException(Describe($"{Name} exited with code {_process.ExitCode} before it was SERVING"));
                }

                try
                {
                    var reply = await health.CheckAsync(new HealthCheckRequest(), cancellationToken: deadline.Token);
                    if (reply.Status == HealthCheckResponse.Types.ServingStatus.Serving)
                    {
                        return;
                    }

                    lastStatus = reply.Status.ToString();
                }
                catch (RpcException e) when (e.StatusCode != StatusCode.Cancelled)
                {
                    lastStatus = $"{e.StatusCode}: {e.Status.Detail}";
                }

                await Task.Delay(HealthPollInterval, time, deadline.Token);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or RpcException)
        {
            // The caller's cancellation stays a cancellation; only our own deadline is a timeout.
            cancellationToken.ThrowIfCancellationRequested();
            throw new TimeoutException(Describe(
                $"{Name} at {Url} was not SERVING on grpc.health.v1 within {timeout.TotalSeconds:0} s (last: {lastStatus})"));
        }
    }

    private string Describe(string what)
    {
        var output = RecentOutput;
        return output.Count == 0
            ? $"{what}; it wrote no output."
            : $"{what}. Its last output:{Environment.NewLine}  {string.Join(Environment.NewLine + "  ", output)}";
    }
}
