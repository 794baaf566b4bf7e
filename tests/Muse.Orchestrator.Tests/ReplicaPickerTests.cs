using Grpc.Core;
using Grpc.Net.Client;
using Muse.Orchestrator.Replicas;

namespace Muse.Orchestrator.Tests;

public sealed class ReplicaPickerTests : IDisposable
{
    private const string Model = "muse-tiny-sr/1";
    private readonly List<StageReplica> _replicas = [];

    [Fact]
    public void Pick_UnequalLoad_ChoosesLeastLoaded()
    {
        var (a, b, c) = (Replica("http://10.0.0.1:1"), Replica("http://10.0.0.2:1"), Replica("http://10.0.0.3:1"));
        using var a1 = a.Acquire();
        using var a2 = a.Acquire();
        using var c1 = c.Acquire();

        var picks = Enumerable.Range(0, 4).Select(tie => ReplicaPicker.Pick(_replicas, Model, Excluded(), (uint)tie)).ToList();

        Assert.All(picks, p => Assert.Same(b, p));
    }

    [Fact]
    public void Pick_LeaseReleased_ReplicaLeastLoadedAgain()
    {
        var (a, b) = (Replica("http://10.0.0.1:1"), Replica("http://10.0.0.2:1"));
        var lease = a.Acquire();
        using var b1 = b.Acquire();
        using var b2 = b.Acquire();
        Assert.Same(a, ReplicaPicker.Pick(_replicas, Model, Excluded(), 0));

        lease.Dispose();
        lease.Dispose();   // a lease counts once, however often it is disposed

        Assert.Equal(0, a.Outstanding);
        Assert.Same(a, ReplicaPicker.Pick(_replicas, Model, Excluded(), 1));
    }

    [Fact]
    public void Pick_Ties_GoRoundInListOrder()
    {
        var (b, a, c) = (Replica("http://10.0.0.2:1"), Replica("http://10.0.0.1:1"), Replica("http://10.0.0.3:1"));
        using var busy = c.Acquire();

        var picks = Enumerable.Range(0, 4).Select(tie => ReplicaPicker.Pick(_replicas, Model, Excluded(), (uint)tie)).ToList();

        Assert.Equal(new StageReplica?[] { b, a, b, a }, picks);
    }

    [Fact]
    public void Pick_DownReplica_SkippedWhileAnotherIsUp()
    {
        var (a, b) = (Replica("http://10.0.0.1:1"), Replica("http://10.0.0.2:1"));
        using var busy = b.Acquire();
        a.MarkDown();

        Assert.Same(b, ReplicaPicker.Pick(_replicas, Model, Excluded(), 0));
    }

    [Fact]
    public void Pick_ExcludedButUp_ChosenWhenNothingElseIsUp()
    {
        var (a, b) = (Replica("http://10.0.0.1:1"), Replica("http://10.0.0.2:1"));
        b.MarkDown();

        Assert.Same(a, ReplicaPicker.Pick(_replicas, Model, Excluded(a.Endpoint), 0));
    }

    [Fact]
    public void Pick_AllDown_UntriedOneStillTried_ThenNone()
    {
        var (a, b) = (Replica("http://10.0.0.1:1"), Replica("http://10.0.0.2:1"));
        a.MarkDown();
        b.MarkDown();

        Assert.Same(b, ReplicaPicker.Pick(_replicas, Model, Excluded(a.Endpoint), 0));
        Assert.Null(ReplicaPicker.Pick(_replicas, Model, Excluded(a.Endpoint, b.Endpoint), 0));
    }

    [Fact]
    public void Pick_MarkedUpAgain_GetsWork()
    {
        var (a, b) = (Replica("http://10.0.0.1:1"), Replica("http://10.0.0.2:1"));
        using var busy = b.Acquire();
        a.MarkDown();
        Assert.Same(b, ReplicaPicker.Pick(_replicas, Model, Excluded(), 0));

        a.MarkUp(new HashSet<string>([Model]));

        Assert.Same(a, ReplicaPicker.Pick(_replicas, Model, Excluded(), 0));
    }

    [Fact]
    public void Pick_NoReplicaHoldsModel_FailedPrecondition()
    {
        Replica("http://10.0.0.1:1");

        var error = Assert.Throws<RpcException>(() => ReplicaPicker.Pick(_replicas, "other/1", Excluded(), 0));

        Assert.Equal(StatusCode.FailedPrecondition, error.StatusCode);
    }

    public void Dispose()
    {
        foreach (var replica in _replicas)
        {
            replica.Dispose();
        }
    }

    private static HashSet<string> Excluded(params string[] endpoints) => new(endpoints, StringComparer.Ordinal);

    // Channels connect on first use only; these are never used.
    private StageReplica Replica(string endpoint)
    {
        var replica = new StageReplica("sr", endpoint, GrpcChannel.ForAddress(endpoint));
        replica.MarkUp(new HashSet<string>([Model], StringComparer.Ordinal));
        _replicas.Add(replica);
        return replica;
    }
}
