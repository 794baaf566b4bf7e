using Grpc.Net.Client;
using Muse.Cluster;
using Spectre.Console;
using MuseClient = Muse.Protos.V1.Muse.MuseClient;

namespace Muse.Client;

/// <summary>A client of the public Muse service: at a given endpoint, or on a local cluster started for one command.</summary>
internal sealed class MuseConnection : IAsyncDisposable
{
    private readonly GrpcChannel _channel;
    private readonly LocalCluster? _cluster;

    private MuseConnection(string endpoint, LocalCluster? cluster)
    {
        Endpoint = endpoint;
        _cluster = cluster;
        _channel = GrpcChannel.ForAddress(endpoint);
        Client = new MuseClient(_channel);
    }

    public string Endpoint { get; }

    public MuseClient Client { get; }

    /// <summary>Connects to <paramref name="endpoint"/>, or starts a local cluster when it is null.</summary>
    public static async Task<MuseConnection> OpenAsync(string? endpoint, CancellationToken cancellationToken)
    {
        if (endpoint is not null)
        {
            return Uri.TryCreate(endpoint, UriKind.Absolute, out var url) && url.Scheme is "http" or "https"
                ? new MuseConnection(endpoint, cluster: null)
                : throw new ArgumentException($"--endpoint '{endpoint}' is not an http:// or https:// address.");
        }

        var cluster = await AnsiConsole.Status().StartAsync(
            "Starting a local cluster…",
            _ => LocalCluster.StartAsync(cancellationToken: cancellationToken));
        AnsiConsole.MarkupLineInterpolated($"[grey]Local cluster at {ListeningLine.Format(cluster.OrchestratorUrl)}[/]");
        return new MuseConnection(ListeningLine.Format(cluster.OrchestratorUrl), cluster);
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
