using Grpc.Core;

namespace Muse.Orchestrator.Replicas;

/// <summary>
/// Which replica gets the next piece of work: the least loaded of those that hold the model, preferring replicas
/// that are up and not yet tried by the caller. Pure: no I/O, no clock.
/// </summary>
/// <remarks>
/// Images do not depend on the replica (counter-based randomness, the orchestrator owns the token state), so the
/// choice only spreads load. Ties go round the tied replicas in list order (configuration, then address order),
/// turned by <c>tie</c>, so that consecutive requests on an idle cluster alternate replicas, starting at the first.
/// </remarks>
public static class ReplicaPicker
{
    /// <summary>
    /// The replica for <paramref name="modelId"/>, or null when every replica holding it is down and was already
    /// tried. Tiers, first non-empty wins: up and untried; up (tried before, healthy again); down but untried (the
    /// probe may lag behind a restart). Within a tier: fewest <see cref="StageReplica.Outstanding"/>.
    /// </summary>
    /// <exception cref="RpcException">
    /// No replica holds the model: FAILED_PRECONDITION when some replica has answered, UNAVAILABLE when none has.
    /// </exception>
    public static StageReplica? Pick(IReadOnlyList<StageReplica> replicas, string modelId, IReadOnlySet<string> excluded, uint tie)
    {
        var holders = replicas.Where(r => !r.IsRetired && r.Models?.Contains(modelId) == true).ToList();
        if (holders.Count == 0)
        {
            var stage = replicas.Count > 0 ? replicas[0].Stage : "this";
            throw new RpcException(replicas.Any(r => r.Models is not null)
                ? new Status(StatusCode.FailedPrecondition, $"No {stage} replica has model {modelId} loaded.")
                : new Status(StatusCode.Unavailable, $"No {stage} replica is reachable."));
        }

        IEnumerable<StageReplica>[] tiers =
        [
            holders.Where(r => !r.IsDown && !excluded.Contains(r.Endpoint)),
            holders.Where(r => !r.IsDown),
            holders.Where(r => !excluded.Contains(r.Endpoint)),
        ];
        foreach (var tier in tiers)
        {
            var candidates = tier.ToList();
            if (candidates.Count == 0)
            {
                continue;
            }

            // Outstanding is read once per replica: it changes under our feet, and a stale count only costs balance.
            var loads = candidates.Select(r => (Replica: r, Load: r.Outstanding)).ToList();
            var least = loads.Min(l => l.Load);
            var tied = loads.Where(l => l.Load == least).Select(l => l.Replica).ToList();
            return tied[(int)(tie % (uint)tied.Count)];
        }

        return null;
    }
}
