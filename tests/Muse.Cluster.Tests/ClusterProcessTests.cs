using System.Net;
using Grpc.Health.V1;
using Grpc.HealthCheck;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace Muse.Cluster.Tests;

/// <summary>
/// Real child processes (<c>/bin/sh</c> scripts that print the address line of a real in-process
/// <c>grpc.health.v1</c> server), so start-up, failure reports and process-tree kills are exercised for real.
/// </summary>
public sealed class ClusterProcessTests : IAsyncLifetime
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    private readonly HealthServiceImpl _health = new();
    private readonly DirectoryInfo _scratch = Directory.CreateTempSubdirectory("muse-child-");
    private WebApplication? _server;
    private string _address = "";

    public async Task InitializeAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, l => l.Protocols = HttpProtocols.Http2));
        builder.Services.AddGrpc();
        builder.Services.AddSingleton(_health);
        _server = builder.Build();
        _server.MapGrpcService<HealthServiceImpl>();
        await _server.StartAsync();
        _address = _server.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
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
    public async Task StartAsync_ListeningAndServing_ReturnsRunningProcessAtAddress()
    {
        _health.SetStatus("", HealthCheckResponse.Types.ServingStatus.Serving);

        await using var child = await StartAsync($"echo starting; echo MUSE_LISTENING {_address}; exec sleep 600");

        Assert.Equal(new Uri(_address), child.Url);
        Assert.False(child.HasExited);
        Assert.Equal(["starting", $"MUSE_LISTENING {_address}"], child.RecentOutput);
    }

    [Fact]
    public async Task DisposeAsync_ChildWithGrandchild_KillsTheWholeTree()
    {
        _health.SetStatus("", HealthCheckResponse.Types.ServingStatus.Serving);
        var pidFile = Path.Combine(_scratch.FullName, "grandchild.pid");
        var child = await StartAsync($"sleep 600 & echo $! > {pidFile}; echo MUSE_LISTENING {_address}; wait");
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

        var error = await Assert.ThrowsAsync<TimeoutException>(
            () => StartAsync($"echo $$ > {pidFile}; echo warming up; exec sleep 600", TimeSpan.FromSeconds(2)));

        Assert.Contains(ListeningLine.Marker, error.Message, StringComparison.Ordinal);
        Assert.Contains("warming up", error.Message, StringComparison.Ordinal);
        var pid = int.Parse(await File.ReadAllTextAsync(pidFile), System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(await GoneAsync(pid), $"child {pid} still runs");
    }

    [Fact]
    public async Task StartAsync_NeverServing_TimesOutWithLastHealthStatus()
    {
        _health.SetStatus("", HealthCheckResponse.Types.ServingStatus.NotServing);

        var error = await Assert.ThrowsAsync<TimeoutException>(
            () => StartAsync($"echo MUSE_LISTENING {_address}; exec sleep 600", TimeSpan.FromSeconds(2)));

        Assert.Contains("NotServing", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StartAsync_Cancelled_ThrowsCancellationAndKillsTheProcess()
    {
        var pidFile = Path.Combine(_scratch.FullName, "child.pid");
        using var cancellation = new CancellationTokenSource();
        var start = StartAsync($"echo $$ > {pidFile}; exec sleep 600", Timeout, cancellation.Token);
        while (!File.Exists(pidFile) || (await File.ReadAllTextAsync(pidFile)).Length == 0)
        {
            await Task.Delay(20);
        }

        await cancellation.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => start);
        var pid = int.Parse(await File.ReadAllTextAsync(pidFile), System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(await GoneAsync(pid), $"child {pid} still runs");
    }

    private static Task<ClusterProcess> StartAsync(string script, TimeSpan? timeout = null, CancellationToken cancellationToken = default) =>
        ClusterProcess.StartAsync(
            "base",
            0,
            ["test/1"],
            "/bin/sh",
            ["-c", script],
            [],
            timeout ?? Timeout,
            NullLogger.Instance,
            cancellationToken);

    /// <summary>True once <paramref name="pid"/> has no process, or only a zombie waiting for its reaper.</summary>
    private static async Task<bool> GoneAsync(int pid)
    {
        // SIGKILL is delivered asynchronously; allow the kernel a moment, but never wait long.
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

            await Task.Delay(50);
        }

        return false;
    }
}
