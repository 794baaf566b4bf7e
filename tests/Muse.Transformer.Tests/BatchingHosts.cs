using Microsoft.Extensions.DependencyInjection;
using Muse.Hosting;
using Muse.Inference;
using Muse.Protos.V1;
using Muse.Repository;
using Muse.Testing;

namespace Muse.Transformer.Tests;

/// <summary>
/// Two replicas that each serve both the random base and SR models: one batching (a small <see cref="MaxRows"/> so
/// that runs fill up, and a long window so that a wait that should not happen would show), one with batching off, the
/// reference every batched reply is compared with.
/// </summary>
public sealed class BatchingHosts : IAsyncLifetime
{
    public const int MaxRows = 12;
    public const int MaxWaitMilliseconds = 10_000;

    private StageHost? _batching;
    private StageHost? _immediate;

    public StageHost Batching => _batching ?? throw new InvalidOperationException("Not started.");

    public StageHost Immediate => _immediate ?? throw new InvalidOperationException("Not started.");

    public IReadOnlyDictionary<string, ModelDescriptor> Models { get; private set; } = new Dictionary<string, ModelDescriptor>();

    /// <summary>The batching replica's scheduler (resolved as the service resolves it).</summary>
    internal BatchingStepScheduler Scheduler => (BatchingStepScheduler)Batching.Services.GetRequiredService<IStepScheduler>();

    public async Task InitializeAsync()
    {
        _batching = await StartAsync(batching: true);
        _immediate = await StartAsync(batching: false);
        var info = await new StageInfo.StageInfoClient(_batching.Channel).GetStageInfoAsync(new GetStageInfoRequest());
        Models = info.Models.ToDictionary(m => $"{m.Name}/{m.Version}");
        Assert.IsType<ImmediateStepScheduler>(_immediate.Services.GetRequiredService<IStepScheduler>());
    }

    public async Task DisposeAsync()
    {
        if (_immediate is not null)
        {
            await _immediate.DisposeAsync();
        }

        if (_batching is not null)
        {
            await _batching.DisposeAsync();
        }
    }

    private static Task<StageHost> StartAsync(bool batching) => TransformerHosts.StartReplicaAsync(
        new Dictionary<string, string?>
        {
            ["Muse:Inference:Models:0"] = TransformerHosts.BaseModel,
            ["Muse:Inference:Models:1"] = TransformerHosts.SuperResolutionModel,
            ["Muse:Transformer:Batching:Enabled"] = batching ? "true" : "false",
            ["Muse:Transformer:Batching:MaxRows"] = $"{MaxRows}",
            ["Muse:Transformer:Batching:MaxWaitMilliseconds"] = $"{MaxWaitMilliseconds}",
        });
}

[CollectionDefinition(Name)]
public sealed class BatchingReplicas : ICollectionFixture<BatchingHosts>
{
    public const string Name = "Batching replicas";
}
