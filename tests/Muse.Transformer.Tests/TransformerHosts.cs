using Muse.Hosting;
using Muse.Inference;
using Muse.Protos.V1;
using Muse.Repository;
using Muse.Testing;
using Muse.Transformer;

namespace Muse.Transformer.Tests;

/// <summary>
/// One base and one SR replica of the transformer binary, each on loopback Kestrel with its random model, shared by
/// every test of the collection (model loading is the slow part). What each serves is read back over StageInfo,
/// as a client would.
/// </summary>
public sealed class TransformerHosts : IAsyncLifetime
{
    public const string BaseModel = "muse-random-base/1";
    public const string SuperResolutionModel = "muse-random-sr/1";

    private StageHost? _base;
    private StageHost? _superResolution;

    public StageHost Base => _base ?? throw new InvalidOperationException("Not started.");

    public StageHost SuperResolution => _superResolution ?? throw new InvalidOperationException("Not started.");

    public ModelDescriptor BaseDescriptor { get; private set; } = new();

    public ModelDescriptor SuperResolutionDescriptor { get; private set; } = new();

    /// <summary>A replica serving <paramref name="model"/>, wired exactly as Program.cs wires it.</summary>
    /// <remarks>The caller owns the host.</remarks>
    public static Task<StageHost> StartReplicaAsync(string model) =>
        StartReplicaAsync(new Dictionary<string, string?> { ["Muse:Inference:Models:0"] = model });

    /// <summary>A replica configured by <paramref name="settings"/> (models, batching, limits), wired as Program.cs wires it.</summary>
    /// <remarks>The caller owns the host.</remarks>
    public static Task<StageHost> StartReplicaAsync(Dictionary<string, string?> settings) => StageHost.StartAsync(
        builder =>
        {
            builder.AddMuseStage(Stages.Base, Stages.SuperResolution);
            builder.AddTokenTransformer();
        },
        app => app.MapMuseStage<TokenTransformerService>(),
        settings);

    public static async Task<ModelDescriptor> DescribeAsync(StageHost host) =>
        (await new StageInfo.StageInfoClient(host.Channel).GetStageInfoAsync(new GetStageInfoRequest())).Models.Single();

    public (StageHost Host, ModelDescriptor Model) Replica(string model) => model switch
    {
        BaseModel => (Base, BaseDescriptor),
        SuperResolutionModel => (SuperResolution, SuperResolutionDescriptor),
        _ => throw new ArgumentOutOfRangeException(nameof(model), model, "Not served by the fixture."),
    };

    public async Task InitializeAsync()
    {
        _base = await StartReplicaAsync(BaseModel);
        _superResolution = await StartReplicaAsync(SuperResolutionModel);
        BaseDescriptor = await DescribeAsync(_base);
        SuperResolutionDescriptor = await DescribeAsync(_superResolution);
    }

    public async Task DisposeAsync()
    {
        if (_superResolution is not null)
        {
            await _superResolution.DisposeAsync();
        }

        if (_base is not null)
        {
            await _base.DisposeAsync();
        }
    }
}

[CollectionDefinition(Name)]
public sealed class TransformerReplicas : ICollectionFixture<TransformerHosts>
{
    public const string Name = "Transformer replicas";
}
