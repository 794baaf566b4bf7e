using Grpc.Net.Client;
using Muse.Protos.V1;

namespace Muse.Orchestrator.Replicas;

/// <summary>One replica of a stage: its channel and the model versions it reported holding.</summary>
/// <remarks>Owns its channel.</remarks>
public sealed class StageReplica(string stage, string endpoint, GrpcChannel channel) : IDisposable
{
    private IReadOnlySet<string>? _models;

    /// <summary>Stage this replica serves.</summary>
    public string Stage { get; } = stage;

    /// <summary>Replica URL.</summary>
    public string Endpoint { get; } = endpoint;

    /// <summary>Channel to the replica (HTTP/2, shared by every call).</summary>
    public GrpcChannel Channel { get; } = channel;

    /// <summary>Model ids last reported by the replica; null until discovered or after a failure.</summary>
    public IReadOnlySet<string>? Models => Volatile.Read(ref _models);

    /// <summary>Asks the replica what it holds (StageInfo).</summary>
    public async Task RefreshAsync(DateTime deadline, CancellationToken ct)
    {
        var client = new StageInfo.StageInfoClient(Channel);
        var reply = await client.GetStageInfoAsync(new GetStageInfoRequest(), deadline: deadline, cancellationToken: ct);
        Volatile.Write(ref _models, reply.Models.Select(m => $"{m.Name}/{m.Version}").ToHashSet(StringComparer.Ordinal));
    }

    /// <summary>Forgets what the replica holds, so that it is asked again before the next use.</summary>
    public void Invalidate() => Volatile.Write(ref _models, null);

    /// <inheritdoc/>
    public void Dispose() => Channel.Dispose();
}
