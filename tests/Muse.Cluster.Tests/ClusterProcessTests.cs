using Grpc.Health.V1;
using Grpc.HealthCheck;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace Muse.Cluster.Tests;

/// <summary>
/// Real child processes (<c>/bin/sh</c> scripts that print the address line of a real in-process
/// <c>grpc.health.v1</c> server), so start-up, failure reports and process-tree kills are exercised for real.
/// Start-up timeouts run on a <see cref="FakeTimeProvider"/> the test advances once the launcher waits.
/// </summary>
public sealed class ClusterProcessTests : IAsyncLifetime
{
    // The start-up timeout, and the bound on every real wait here (a hang guard, not a speed assertion).
    internal static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    private readonly DirectoryInfo _scratch = Directory.CreateTempSubdirectory("muse-child-");
    private HealthServer? _server;

    private HealthServiceImpl Health => Server.Health;

    private string Address => Server.Address;

    private HealthServer Server => _server ?? throw new InvalidOperationException("Not initialized.");

    public async Task InitializeAsync() => _server = await HealthServer.StartAsync();

    public async Task DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }

        _scratch.Delete(recursive: true);
    }

    [Fact]
    public async Task StartAsync_ListeningAndServing_ReturnsRunningProcessAtAddress()
    {
        Health.SetStatus("", HealthCheckResponse.Types.ServingStatus.Serving);

        await using var child = await StartAsync($"echo starting; echo MUSE_LISTENING {Address}; exec sleep 600");

        Assert.Equal(new Uri(Address), child.Url);
        Assert.False(child.HasExited);
        Assert.Equal(["starting", $"MUSE_LISTENING {Address}"], child.RecentOutput);
    }

    [Fact]
    public async Task DisposeAsync_ChildWithGrandchild_KillsTheWholeTree()
    {
        Health.SetStatus("", HealthCheckResponse.Types.ServingStatus.Serving);
        var pidFile = Path.Combine(_scratch.FullName, "grandchild.pid");
        var child = await StartAsync($"sleep 600 & echo $! > {pidFile}; echo MUSE_LISTENING {Address}; wait");
        var grandchild = int.Parse(await File.ReadAllTextAsync(pidFile), System.Globalization.CultureInfo.InvariantCulture);

        await child.DisposeAsync();

        Assert.True(child.HasExited);
        Assert.True(await GoneAsync(grandchild), $"grandchild {grandchild} still runs");
    }

    [Fact]
    public async Task StartAsync_ExitsBeforeListening_ThrowsWithExitCodeAndOutput()
    {
        var error = await Assert.ThrowsAsync<InvalidOperationException>(
            () => StartAsync("echo loading models; echo 'no model found' >&2; exit 3"));

        Assert.Contains("code 3", error.Message, StringComparison.Ordinal);
        Assert.Contains("loading models", error.Message, StringComparison.Ordinal);
        Assert.Contains("stderr: no model found", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StartAsync_NoListeningLine_TimesOutAndKillsTheProcess()
    {
        var pidFile = Path.Combine(_scratch.FullName, "child.pid");
        var time = new ObservedTimeProvider();
        var output = new RecordingLogger();
        var start = StartAsync($"echo $$ > {pidFile}; echo warming up; exec sleep 600", time, output);
        await output.WaitForLineAsync("warming up", Timeout);

        time.Advance(Timeout);

        var error = await Assert.ThrowsAsync<TimeoutException>(() => start.WaitAsync(Timeout));
        Assert.Contains(ListeningLine.Marker, error.Message, StringComparison.Ordinal);
        Assert.Contains("warming up", error.Message, StringComparison.Ordinal);
        var pid = int.Parse(await File.ReadAllTextAsync(pidFile), System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(await GoneAsync(pid), $"child {pid} still runs");
    }

    [Fact]
    public async Task StartAsync_NeverServing_TimesOutWithLastHealthStatus()
    {
        Health.SetStatus("", HealthCheckResponse.Types.ServingStatus.NotServing);
        var time = new ObservedTimeProvider();
        var start = StartAsync($"echo MUSE_LISTENING {Address}; exec sleep 600", time);
        // The pause after the first NOT_SERVING answer: the launcher has read that answer and waits for the next poll.
        await time.WaitForTimerAsync(ClusterProcess.HealthPollInterval, Timeout);

        time.Advance(Timeout);

        var error = await Assert.ThrowsAsync<TimeoutException>(() => start.WaitAsync(Timeout));
        Assert.Contains("NotServing", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StartAsync_Cancelled_ThrowsCancellationAndKillsTheProcess()
    {
        var pidFile = Path.Combine(_scratch.FullName, "child.pid");
        var output = new RecordingLogger();
        using var cancellation = new CancellationTokenSource();
        var start = StartAsync($"echo $$ > {pidFile}; echo pid written; exec sleep 600", TimeProvider.System, output, cancellation.Token);
        await output.WaitForLineAsync("pid written", Timeout);

        await cancellation.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => start.WaitAsync(Timeout));
        var pid = int.Parse(await File.ReadAllTextAsync(pidFile), System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(await GoneAsync(pid), $"child {pid} still runs");
    }

    private static Task<ClusterProcess> StartAsync(string script) => StartAsync(script, TimeProvider.System);

    private static Task<ClusterProcess> StartAsync(
        string script, TimeProvider time, ILogger? logger = null, CancellationToken cancellationToken = default) =>
        ClusterProcess.StartAsync(
            "base",
            0,
            ["test/1"],
            "/bin/sh",
            ["-c", script],
            [],
            Timeout,
            time,
            logger ?? NullLogger.Instance,
            cancellationToken);

    /// <summary>True once <paramref name="pid"/> has no process, or only a zombie waiting for its reaper.</summary>
    private static async Task<bool> GoneAsync(int pid)
    {
        // Real time: a killed grandchild is no child of ours, so nothing signals its end (its zombie may even outlive
        // it). Poll /proc for SIGKILL to land, bounded at 5 s.
        for (var attempt = 0; attempt < 100; attempt++)
        {
            var stat = $"/proc/{pid}/stat";
            if (!File.Exists(stat))
            {
                return true;
            }

            try
            {
                var fields = (await File.ReadAllTextAsync(stat)).Split(") ", 2);
                if (fields.Length == 2 && fields[1].StartsWith('Z'))
                {
                    return true;
                }
            }
            catch (IOException)
            {
                return true;
            }

#pragma warning disable RS0030 // Real time, bounded: see above.
            await Task.Delay(50);
#pragma warning restore RS0030
        }

        return false;
    }
}
