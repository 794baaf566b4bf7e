using Grpc.Core;
using Grpc.Health.V1;
using Muse.Protos.V1;

namespace Muse.Orchestrator.Replicas;

/// <summary>Asks a replica whether it serves, and what (the seam tests replace).</summary>
public interface IReplicaProbe
{
    /// <summary>The model ids <paramref name="replica"/> serves; throws when it does not answer, or is not ready.</summary>
    Task<IReadOnlySet<string>> ProbeAsync(StageReplica replica, TimeSpan timeout, CancellationToken ct);
}

/// <summary>
/// The standard probe: <c>grpc.health.v1</c> Check of service <c>ready</c> (models loaded), then
/// <c>StageInfo.GetStageInfo</c> for the model versions, both within one deadline.
/// </summary>
public sealed class GrpcReplicaProbe(TimeProvider time) : IReplicaProbe
{
    /// <summary>The health service name a stage reports SERVING on once its models are loaded.</summary>
    public const string ReadyService = "ready";

    /// <inheritdoc/>
    public async Task<IReadOnlySet<string>> ProbeAsync(StageReplica replica, TimeSpan timeout, CancellationToken ct)
    {
        var deadline = time.GetUtcNow().UtcDateTime.Add(timeout);
        var health = await new Health.HealthClient(replica.Channel)
            .CheckAsync(new HealthCheckRequest { Service = ReadyService }, deadline: deadline, cancellationToken: ct);
        if (health.Status != HealthCheckResponse.Types.ServingStatus.Serving)
        {
            throw new RpcException(new Status(StatusCode.Unavailable, $"Replica {replica.Endpoint} is {health.Status}."));
        }

        var info = await new StageInfo.StageInfoClient(replica.Channel)
            .GetStageInfoAsync(new GetStageInfoRequest(), deadline: deadline, cancellationToken: ct);
        return info.Models.Select(m => $"{m.Name}/{m.Version}").ToHashSet(StringComparer.Ordinal);
    }
}
