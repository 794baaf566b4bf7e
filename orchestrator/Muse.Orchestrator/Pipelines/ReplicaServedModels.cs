using Grpc.Core;
using Microsoft.Extensions.Options;
using Muse.Orchestrator.Replicas;

namespace Muse.Orchestrator.Pipelines;

/// <summary>
/// <see cref="IServedModels"/> over the configured replicas: asks each replica of the stage again (StageInfo) and
/// unites what the ones that answer serve.
/// </summary>
internal sealed class ReplicaServedModels(StageClients clients, IReplicaProbe probe, IOptions<StageResilienceOptions> resilience) : IServedModels
{
    public async Task<IReadOnlySet<string>?> ServedAsync(string stage, CancellationToken ct)
    {
        HashSet<string>? served = null;
        foreach (var replica in clients.Replicas(stage))
        {
            var models = replica.Models;
            try
            {
                models = await probe.ProbeAsync(replica, resilience.Value.ProbeTimeout, ct);
            }
            catch (RpcException) when (!ct.IsCancellationRequested)
            {
                // Unreachable now: what it reported before (if anything) still counts below.
            }

            if (models is not null)
            {
                served ??= new HashSet<string>(StringComparer.Ordinal);
                served.UnionWith(models);
            }
        }

        return served;
    }
}
