using Grpc.Net.Client;

namespace Muse.Orchestrator.Replicas;

/// <summary>
/// One replica of a stage: its channel, the model versions it reported holding, whether it is down, and how much
/// work the orchestrator has on it now (open decode streams and unary calls in flight).
/// </summary>
/// <remarks>Owns its channel. <see cref="StageClients"/> creates it and disposes it once it is retired and idle.</remarks>
public sealed class StageReplica : IDisposable
{
    private IReadOnlySet<string>? _models;
    private int _outstanding;
    private int _down;
    private int _retired;
    private int _disposed;

    /// <summary>Creates a replica at <paramref name="endpoint"/>, reached through <paramref name="channel"/> (now owned by it).</summary>
    public StageReplica(string stage, string endpoint, GrpcChannel channel)
    {
        Stage = stage;
        Endpoint = endpoint;
        Channel = channel;
    }

    /// <summary>Stage this replica serves.</summary>
    public string Stage { get; }

    /// <summary>Replica URL: its identity for balancing and failover.</summary>
    public string Endpoint { get; }

    /// <summary>Channel to the replica (HTTP/2, shared by every call).</summary>
    public GrpcChannel Channel { get; }

    /// <summary>Model ids the replica reported; null until it has answered once. Kept while it is down.</summary>
    public IReadOnlySet<string>? Models => Volatile.Read(ref _models);

    /// <summary>True from a failure until a probe finds the replica serving again.</summary>
    public bool IsDown => Volatile.Read(ref _down) != 0;

    /// <summary>Decode streams open and unary calls in flight on this replica, from this orchestrator.</summary>
    public int Outstanding => Volatile.Read(ref _outstanding);

    /// <summary>True once the replica left the configuration (or DNS): it takes no new work.</summary>
    public bool IsRetired => Volatile.Read(ref _retired) != 0;

    /// <summary>Counts one piece of work until the returned lease is disposed.</summary>
    public IDisposable Acquire()
    {
        Interlocked.Increment(ref _outstanding);
        return new Lease(this);
    }

    /// <summary>Marks the replica down; true when it was up (the caller then starts probing it).</summary>
    public bool MarkDown() => Interlocked.Exchange(ref _down, 1) == 0;

    /// <summary>Records what a successful probe found and takes the replica back.</summary>
    public void MarkUp(IReadOnlySet<string> models)
    {
        Volatile.Write(ref _models, models);
        Volatile.Write(ref _down, 0);
    }

    /// <summary>Takes the replica out of service; its channel is disposed as soon as no work is left on it.</summary>
    public void Retire()
    {
        Volatile.Write(ref _retired, 1);
        if (Outstanding == 0)
        {
            Dispose();
        }
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            Channel.Dispose();
        }
    }

    private void Release()
    {
        // Retire checks the count after setting its flag, and this checks the flag after lowering the count, so one
        // of the two sees both and the channel is disposed exactly once (Dispose is idempotent).
        if (Interlocked.Decrement(ref _outstanding) == 0 && IsRetired)
        {
            Dispose();
        }
    }

    private sealed class Lease(StageReplica replica) : IDisposable
    {
        private int _released;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0)
            {
                replica.Release();
            }
        }
    }
}
