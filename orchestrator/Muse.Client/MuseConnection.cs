using Grpc.Net.Client;
using Muse.Cluster;
using Spectre.Console;
using MuseClient = Muse.Protos.V1.Muse.MuseClient;

namespace Muse.Client;

/// <summary>
/// A client of the public Muse service: at a given endpoint (with its API key and CA, if any), or on a local cluster
/// started for one command (loopback, no key needed).
/// </summary>
internal sealed class MuseConnection : IAsyncDisposable
{
    private readonly GrpcChannel _channel;
    private readonly LocalCluster? _cluster;

    private MuseConnection(string endpoint, GrpcChannel channel, LocalCluster? cluster)
    {
        Endpoint = endpoint;
        _cluster = cluster;
        _channel = channel;
        Client = new MuseClient(_channel);
    }

    public string Endpoint { get; }

    public MuseClient Client { get; }

    /// <summary>Connects to the target's endpoint, or starts a local cluster when it has none.</summary>
    public static async Task<MuseConnection> OpenAsync(ConnectionTarget target, CancellationToken cancellationToken)
    {
        if (target.Endpoint is { } endpoint)
        {
            if (!Uri.TryCreate(endpoint, UriKind.Absolute, out var url) || url.Scheme is not ("http" or "https"))
            {
                throw new ArgumentException($"--endpoint '{endpoint}' is not an http:// or https:// address.");
            }

            if (target.CaFile is { } ca && !File.Exists(ca))
            {
                throw new FileNotFoundException($"--ca {ca}: no such file.");
            }

            return new MuseConnection(endpoint, MuseChannels.Create(url, target.CaFile, target.ApiKey), cluster: null);
        }

        var cluster = await AnsiConsole.Status().StartAsync(
            "Starting a local cluster…",
            _ => LocalCluster.StartAsync(cancellationToken: cancellationToken));
        AnsiConsole.MarkupLineInterpolated($"[grey]Local cluster at {ListeningLine.Format(cluster.OrchestratorUrl)}[/]");
        return new MuseConnection(ListeningLine.Format(cluster.OrchestratorUrl), MuseChannels.Create(cluster.OrchestratorUrl), cluster);
    }

    public async ValueTask DisposeAsync()
    {
        _channel.Dispose();
        if (_cluster is not null)
        {
            await _cluster.DisposeAsync();
        }
    }
}
