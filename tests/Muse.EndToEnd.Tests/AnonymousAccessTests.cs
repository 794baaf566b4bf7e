using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using Microsoft.Extensions.Logging.Abstractions;
using Muse.Cluster;
using Muse.Protos.V1;

namespace Muse.EndToEnd.Tests;

/// <summary>
/// Anonymous access beyond loopback: the real orchestrator binary, launched as <c>muse up --host 0.0.0.0</c> launches it
/// (<see cref="LocalCluster"/>'s arguments and cluster credential), against the secure cluster's stages.
/// </summary>
[Collection(SecureCluster.Name)]
public sealed class AnonymousAccessTests(SecureClusterFixture fixture)
{
    private static readonly TimeSpan Bound = TimeSpan.FromMinutes(2);

    [Fact]
    public async Task Orchestrator_OnEveryInterfaceWithoutKeys_RefusesToStartSayingWhy()
    {
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => StartOrchestratorAsync(allowAnonymous: false));

        Assert.Contains("exited with code", error.Message, StringComparison.Ordinal);
        Assert.Contains("Refusing to start: the orchestrator listens on http://0.0.0.0:", error.Message, StringComparison.Ordinal);
        Assert.Contains("no API keys are configured", error.Message, StringComparison.Ordinal);
        Assert.Contains("--allow-anonymous", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Orchestrator_OnEveryInterfaceWithAllowAnonymous_ServesCallersWithoutAKey()
    {
        await using var orchestrator = await StartOrchestratorAsync(allowAnonymous: true);
        // Through a non-loopback address of this machine where it has one: the case the rule is about.
        var address = NonLoopbackAddress() ?? IPAddress.Loopback;
        using var channel = MuseChannels.Create(new UriBuilder(orchestrator.Url) { Host = address.ToString() }.Uri);
        using var bound = new CancellationTokenSource(Bound);

        var models = await new Protos.V1.Muse.MuseClient(channel).ListModelsAsync(new ListModelsRequest(), cancellationToken: bound.Token);

        Assert.NotEmpty(models.Pipelines);
        Assert.Contains(orchestrator.RecentOutput, l => l.Contains("Anonymous access on a non-loopback address", StringComparison.Ordinal));
    }

    private Task<ClusterProcess> StartOrchestratorAsync(bool allowAnonymous)
    {
        var cluster = fixture.Cluster;
        var launch = new ChildLaunch(
            "orchestrator",
            0,
            [],
            LocalCluster.DotnetHost(),
            [
                ServiceBinaries.Resolve(ServiceBinaries.Orchestrator),
                .. LocalCluster.OrchestratorArguments(cluster.Repository, 0, cluster.Stages, "0.0.0.0"),
                .. allowAnonymous ? new[] { "--Muse:Security:AllowAnonymous=true" } : [],
            ],
            [new(LocalCluster.InternalTokenVariable, cluster.InternalToken)]);
        return ClusterProcess.StartAsync(launch, TimeSpan.FromSeconds(60), TimeProvider.System, NullLogger.Instance, CancellationToken.None);
    }

    private static IPAddress? NonLoopbackAddress() => NetworkInterface.GetAllNetworkInterfaces()
        .Where(n => n.OperationalStatus == OperationalStatus.Up && n.NetworkInterfaceType != NetworkInterfaceType.Loopback)
        .SelectMany(n => n.GetIPProperties().UnicastAddresses)
        .Select(a => a.Address)
        .FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork && !IPAddress.IsLoopback(a));
}
