using Grpc.Core;
using Grpc.Net.Client;
using Muse.Cluster;
using Muse.Protos.V1;

namespace Muse.EndToEnd.Tests;

/// <summary>A local cluster (every stage a separate process) shared by the tests of one collection.</summary>
public class ClusterFixture : IAsyncLifetime
{
    private LocalCluster? _cluster;
    private GrpcChannel? _channel;

    /// <summary>Transformer replicas per stage.</summary>
    protected virtual int TransformerReplicas => 1;

    /// <summary>Extra orchestrator arguments, e.g. <c>--Muse:Queue:MaxConcurrent=1</c>.</summary>
    protected virtual IEnumerable<string> OrchestratorArguments => [];

    public LocalCluster Cluster => _cluster ?? throw new InvalidOperationException("Cluster not started.");

    public Protos.V1.Muse.MuseClient Client { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        var options = new LocalClusterOptions { TransformerReplicas = TransformerReplicas };
        // Two cores: one ORT thread per stage process keeps six processes from fighting over them.
        options.StageArguments.Add("--Muse:Inference:IntraOpThreads=1");
        foreach (var argument in OrchestratorArguments)
        {
            options.OrchestratorArguments.Add(argument);
        }

        await PrepareAsync(options);
        _cluster = await LocalCluster.StartAsync(options);
        _channel = GrpcChannel.ForAddress(_cluster.OrchestratorUrl);
        Client = new Protos.V1.Muse.MuseClient(_channel);
    }

    /// <summary>Runs before the cluster starts, e.g. to write the repository and pipelines file it serves.</summary>
    protected virtual Task PrepareAsync(LocalClusterOptions options) => Task.CompletedTask;

    public virtual async Task DisposeAsync()
    {
        _channel?.Dispose();
        if (_cluster is not null)
        {
            await _cluster.DisposeAsync();
        }
    }

    /// <summary>Runs Generate to the end and returns every event in order.</summary>
    public async Task<List<GenerateEvent>> GenerateAsync(GenerateRequest request, DateTime? deadline = null, CancellationToken ct = default)
    {
        using var call = Client.Generate(request, deadline: deadline, cancellationToken: ct);
        var events = new List<GenerateEvent>();
        await foreach (var e in call.ResponseStream.ReadAllAsync(ct))
        {
            events.Add(e);
        }

        return events;
    }

    /// <summary>
    /// The first line of <paramref name="process"/>'s output (already written or still to come) that matches
    /// <paramref name="match"/>; a <see cref="TimeoutException"/> with its recent output if none comes within
    /// <paramref name="bound"/> (a hang guard, not a speed assertion).
    /// </summary>
    public static async Task<string> OutputLineAsync(ClusterProcess process, Func<string, bool> match, string what, TimeSpan bound)
    {
        using var giveUp = new CancellationTokenSource(bound);
        try
        {
            return await process.WaitForOutputAsync(match, giveUp.Token);
        }
        catch (OperationCanceledException) when (giveUp.IsCancellationRequested)
        {
            throw new TimeoutException(
                $"{process.Name} wrote no {what} within {bound.TotalSeconds:0} s:\n" + string.Join('\n', process.RecentOutput));
        }
    }
}

[CollectionDefinition(Name)]
public sealed class SharedCluster : ICollectionFixture<ClusterFixture>
{
    public const string Name = "cluster";
}
