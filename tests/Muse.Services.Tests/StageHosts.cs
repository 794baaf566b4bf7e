using Muse.Hosting;
using Muse.ImageTokenizer;
using Muse.Inference;
using Muse.Protos.V1;
using Muse.Repository;
using Muse.Testing;
using Muse.TextEncoder;

namespace Muse.Services.Tests;

/// <summary>The text-encoder stage on loopback Kestrel with the random T5, wired as its Program.cs wires it.</summary>
public sealed class TextEncoderHost : IAsyncLifetime
{
    public const string Model = "muse-random-t5/1";

    private StageHost? _host;

    public StageHost Host => _host ?? throw new InvalidOperationException("Not started.");

    public Protos.V1.TextEncoder.TextEncoderClient Client => new(Host.Channel);

    public ModelManifest Manifest => Host.Services.GetRequiredService<StageModels>().Default.Manifest;

    public async Task InitializeAsync() => _host = await StageHost.StartAsync(
        builder =>
        {
            builder.AddMuseStage(Stages.TextEncoder);
            builder.AddTextEncoder();
        },
        app => app.MapMuseStage<TextEncoderService>(),
        new Dictionary<string, string?> { ["Muse:Inference:Models:0"] = Model });

    public async Task DisposeAsync()
    {
        if (_host is not null)
        {
            await _host.DisposeAsync();
        }
    }
}

/// <summary>The image-tokenizer stage on loopback Kestrel with the random VQGAN, wired as its Program.cs wires it.</summary>
public sealed class ImageTokenizerHost : IAsyncLifetime
{
    public const string Model = "muse-random-vqgan/1";

    private StageHost? _host;

    public StageHost Host => _host ?? throw new InvalidOperationException("Not started.");

    public Protos.V1.ImageTokenizer.ImageTokenizerClient Client => new(Host.Channel);

    public ModelManifest Manifest => Host.Services.GetRequiredService<StageModels>().Default.Manifest;

    public async Task InitializeAsync() => _host = await StageHost.StartAsync(
        builder =>
        {
            builder.AddMuseStage(Stages.ImageTokenizer);
            builder.AddImageTokenizer();
        },
        app => app.MapMuseStage<ImageTokenizerService>(),
        new Dictionary<string, string?> { ["Muse:Inference:Models:0"] = Model });

    public async Task DisposeAsync()
    {
        if (_host is not null)
        {
            await _host.DisposeAsync();
        }
    }
}

/// <summary>Tests sharing one text-encoder host (model loading is the slow part).</summary>
[CollectionDefinition(Name)]
public sealed class TextEncoderStage : ICollectionFixture<TextEncoderHost>
{
    public const string Name = "text-encoder";
}

/// <summary>Tests sharing one image-tokenizer host.</summary>
[CollectionDefinition(Name)]
public sealed class ImageTokenizerStage : ICollectionFixture<ImageTokenizerHost>
{
    public const string Name = "image-tokenizer";
}
