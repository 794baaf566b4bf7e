using Grpc.Health.V1;

namespace Muse.Cluster.Tests;

/// <summary>
/// Restarts of real child processes (<c>/bin/sh</c> scripts claiming the address of a real in-process
/// <c>grpc.health.v1</c> server) on a fake clock: the test sees each backoff timer start, checks its length, and
/// advances the clock past it.
/// </summary>
public sealed class SupervisedProcessTests : IAsyncLifetime
{
    private static readonly TimeSpan Timeout = ClusterProcessTests.Timeout;
    private readonly DirectoryInfo _scratch = Directory.CreateTempSubdirectory("muse-supervised-");
    private readonly ObservedTimeProvider _time = new();
    private readonly RecordingLogger _log = new();
    private HealthServer? _server;

    private HealthServer Server => _server ?? throw new InvalidOperationException("Not initialized.");

    public async Task InitializeAsync()
    {
        _server = await HealthServer.StartAsync();
        _server.Health.SetStatus("", HealthCheckResponse.Types.ServingStatus.Serving);
    }

    public async Task DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }

        _scratch.Delete(recursive: true);
    }

    [Fact]
    public async Task Supervise_ChildKilled_RestartsAfterInitialBackoffOnTheSameAddress()
    {
        // The script prints the address it was asked for ($2 is the value after --urls).
        await using var sut = await CreateSutAsync($"echo asked for $2; echo MUSE_LISTENING {Server.Address}; exec sleep 600");
        var first = sut.Current;

        first.Kill();
        await _time.WaitForTimerAsync(TimeSpan.FromMilliseconds(500), Timeout);
        _time.Advance(TimeSpan.FromMilliseconds(500));
        await WaitUntilAsync(sut, s => s is { State: SupervisedState.Serving, Restarts: 1 });

        Assert.Equal(137, first.ExitCode);
        Assert.NotEqual(first.ProcessId, sut.Current.ProcessId);
        Assert.False(sut.Current.HasExited);
        Assert.Equal(first.Url, sut.Current.Url);
        Assert.Equal(["asked for http://127.0.0.1:0"], first.RecentOutput.Where(l => l.StartsWith("asked", StringComparison.Ordinal)));
        Assert.Equal([$"asked for {Server.Address}"], sut.Current.RecentOutput.Where(l => l.StartsWith("asked", StringComparison.Ordinal)));
        Assert.Contains(_log.Messages, m => m.StartsWith($"base#0 (pid {first.ProcessId}) exited with code 137", StringComparison.Ordinal));
        Assert.Contains(_log.Messages, m => m.StartsWith("Restarting base#0", StringComparison.Ordinal) && m.Contains("in 0.5 s (restart 1 in a row", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Supervise_CrashLoop_DoublesTheBackoffThenGivesUpWithTheLastFailure()
    {
        // Only the first start comes up; every restart fails at once, as a child with a broken model would.
        var started = Path.Combine(_scratch.FullName, "started");
        await using var sut = await CreateSutAsync(
            $"if [ -e {started} ]; then echo 'model file is corrupt' >&2; exit 3; fi; touch {started}; echo MUSE_LISTENING {Server.Address}; exec sleep 600",
            maxRestarts: 3);

        sut.Current.Kill();
        foreach (var backoff in new[] { 0.5, 1, 2 })
        {
            await _time.WaitForTimerAsync(TimeSpan.FromSeconds(backoff), Timeout);
            _time.Advance(TimeSpan.FromSeconds(backoff));
        }

        await WaitUntilAsync(sut, s => s.State == SupervisedState.GaveUp);
        Assert.Equal(0, sut.Restarts);
        Assert.True(sut.Current.HasExited);
        var restartFailures = _log.Messages.Where(m => m.StartsWith("Restart ", StringComparison.Ordinal) && m.Contains("code 3", StringComparison.Ordinal));
        Assert.Equal(3, restartFailures.Count());
        var gaveUp = Assert.Single(_log.Messages, m => m.StartsWith("Giving up on base#0 after 3 restarts in a row", StringComparison.Ordinal));
        Assert.Contains("stderr: model file is corrupt", gaveUp, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Supervise_UpForStableAfter_StartsTheBackoffOverButNotWithinIt()
    {
        await using var sut = await CreateSutAsync($"echo MUSE_LISTENING {Server.Address}; exec sleep 600");
        await RestartAsync(sut, expectedBackoff: TimeSpan.FromSeconds(0.5), restarts: 1);

        // Up for a whole StableAfter: the next exit is a new incident, restarted after the initial backoff again.
        _time.Advance(TimeSpan.FromSeconds(60));
        await RestartAsync(sut, expectedBackoff: TimeSpan.FromSeconds(0.5), restarts: 2);

        // Dies again at once: the second restart of this row waits twice as long.
        await RestartAsync(sut, expectedBackoff: TimeSpan.FromSeconds(1), restarts: 3);
    }

    [Fact]
    public async Task StopAsync_DuringBackoff_StartsNothingAndEndsStopped()
    {
        var starts = Path.Combine(_scratch.FullName, "starts");
        await using var sut = await CreateSutAsync($"echo start >> {starts}; echo MUSE_LISTENING {Server.Address}; exec sleep 600");
        sut.Current.Kill();
        await _time.WaitForTimerAsync(TimeSpan.FromMilliseconds(500), Timeout);

        await sut.StopAsync(Timeout);
        _time.Advance(TimeSpan.FromMinutes(1));

        Assert.Equal(SupervisedState.Stopped, sut.State);
        Assert.Equal(0, sut.Restarts);
        Assert.Single(await File.ReadAllLinesAsync(starts));
    }

    [Fact]
    public async Task Supervise_NoRestartsAllowed_GivesUpAtTheFirstExit()
    {
        await using var sut = await CreateSutAsync($"echo MUSE_LISTENING {Server.Address}; exec sleep 600", maxRestarts: 0);

        sut.Current.Kill();

        await WaitUntilAsync(sut, s => s.State == SupervisedState.GaveUp);
        Assert.Contains(_log.Messages, m => m.StartsWith("Giving up on base#0 after 0 restarts", StringComparison.Ordinal) && m.Contains("code 137", StringComparison.Ordinal));
    }

    [Fact]
    public async Task WaitForFailureAsync_EveryReplicaOfAStageGivenUp_CompletesNamingTheStage()
    {
        var script = $"echo MUSE_LISTENING {Server.Address}; exec sleep 600";
        var base0 = await CreateSutAsync(script, maxRestarts: 0, stage: "base", replica: 0);
        var base1 = await CreateSutAsync(script, maxRestarts: 0, stage: "base", replica: 1);
        var orchestrator = await CreateSutAsync(script, maxRestarts: 0, stage: "orchestrator", replica: 0);
        await using var cluster = new LocalCluster("/models/repository", [base0, base1], orchestrator, Timeout, internalToken: "test-internal-token-0123", _log);
        var failure = cluster.WaitForFailureAsync();

        base0.Current.Kill();
        await WaitUntilAsync(base0, s => s.State == SupervisedState.GaveUp);
        var afterOne = failure.IsCompleted;
        base1.Current.Kill();

        var reason = await failure.WaitAsync(Timeout);
        Assert.False(afterOne);
        Assert.StartsWith("every base replica was given up", reason, StringComparison.Ordinal);
        Assert.Equal(SupervisedState.Serving, orchestrator.State);
    }

    private async Task RestartAsync(SupervisedProcess sut, TimeSpan expectedBackoff, int restarts)
    {
        var before = sut.Current;
        before.Kill();
        await _time.WaitForTimerAsync(expectedBackoff, Timeout);
        _time.Advance(expectedBackoff);
        await WaitUntilAsync(sut, s => s.State == SupervisedState.Serving && s.Restarts == restarts);
        Assert.NotEqual(before.ProcessId, sut.Current.ProcessId);
    }

    private async Task<SupervisedProcess> CreateSutAsync(string script, int maxRestarts = 8, string stage = "base", int replica = 0)
    {
        var launch = new ChildLaunch(stage, replica, ["test/1"], "/bin/sh", ["-c", script, "sh", "--urls", "http://127.0.0.1:0"], []);
        var policy = new RestartPolicy { MaxRestarts = maxRestarts };
        var first = await ClusterProcess.StartAsync(launch, Timeout, _time, _log, CancellationToken.None);
        return SupervisedProcess.Supervise(first, launch, policy, Timeout, _time, _log);
    }

    private static async Task WaitUntilAsync(SupervisedProcess sut, Func<SupervisedProcess, bool> condition)
    {
        using var bound = new CancellationTokenSource(Timeout);
        await sut.WaitUntilAsync(condition, bound.Token);
    }
}
