using System.Text.Json;
using Grpc.Core;
using Muse.Inference;
using Muse.ModelBuilder.Amused;
using Muse.Protos;
using Muse.Protos.V1;
using Muse.Repository;
using Muse.Testing;
using Muse.TextEncoder;

namespace Muse.Services.Tests;

/// <summary>
/// The text-encoder stage serving aMUSEd's CLIP, imported from tests/fixtures/amused-tiny into a temporary repository
/// and selected by its manifest (<c>textTokenizer: clip</c>): texts in, the reference's penultimate hidden states and
/// pooled projection out.
/// </summary>
public sealed class ClipTextEncoderTests : IAsyncLifetime
{
    private const float Tolerance = 1e-4f;
    private readonly string _root = Path.Combine(Path.GetTempPath(), "muse-clip-encoder-tests", Guid.NewGuid().ToString("N"));
    private StageHost? _host;

    private static string Fixture => Path.Combine(Repo.Root, "tests", "fixtures", "amused-tiny");

    private Protos.V1.TextEncoder.TextEncoderClient Client => new(_host!.Channel);

    public async Task InitializeAsync()
    {
        var repository = Path.Combine(_root, "repository");
        AmusedImporter.Import(Path.Combine(Fixture, "checkpoint"), repository, Path.Combine(_root, "pipelines.json"), "amused-tiny", "1");
        _host = await StageHost.StartAsync(
            builder =>
            {
                builder.AddMuseStage(Stages.TextEncoder);
                builder.AddTextEncoder();
            },
            app => app.MapMuseStage<TextEncoderService>(),
            new Dictionary<string, string?> { ["Muse:Inference:Repository"] = repository, ["Muse:Inference:Models:0"] = "amused-tiny-clip/1" });
    }

    public async Task DisposeAsync()
    {
        if (_host is not null)
        {
            await _host.DisposeAsync();
        }

        Directory.Delete(_root, recursive: true);
    }

    [Fact]
    public async Task Encode_PromptAndEmptyText_MatchesReferenceHiddenStatesAndPooled()
    {
        // reference.json encoded exactly these two texts, tokenized by transformers' CLIPTokenizer.
        var reference = JsonDocument.Parse(File.ReadAllText(Path.Combine(Fixture, "reference.json"))).RootElement.GetProperty("text_encoder");

        var reply = await Client.EncodeAsync(new EncodeRequest { Texts = { "A red Cube on a BLUE table.", "" } });

        Assert.Equal([2L, 77, 32], reply.Embeddings.Shape);
        Assert.Equal([2L, 24], reply.PooledEmbeddings.Shape);
        AssertClose(Floats(reference.GetProperty("penultimate")), TensorConvert.ToFloat32(reply.Embeddings, "embeddings"));
        AssertClose(Floats(reference.GetProperty("text_embeds")), TensorConvert.ToFloat32(reply.PooledEmbeddings, "pooled"));
        Assert.Equal([12, 2], reply.TokenCounts);   // start + 10 ids + end; start + end
        Assert.Equal(14, TensorConvert.ToInt32(reply.Mask, "mask").Sum());
    }

    [Fact]
    public async Task Encode_TextOver77Tokens_ReturnsInvalidArgument()
    {
        var error = await Assert.ThrowsAsync<RpcException>(() =>
            Client.EncodeAsync(new EncodeRequest { Texts = { string.Join(' ', Enumerable.Repeat("cat", 80)) } }).ResponseAsync);

        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Contains("accepts at most 77", error.Status.Detail, StringComparison.Ordinal);
    }

    private static float[] Floats(JsonElement array) => [.. array.EnumerateArray().Select(e => e.GetSingle())];

    private static void AssertClose(float[] expected, float[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (var i = 0; i < expected.Length; i++)
        {
            Assert.True(Math.Abs(expected[i] - actual[i]) <= Tolerance * Math.Max(1, Math.Abs(expected[i])), $"[{i}]: {actual[i]} vs {expected[i]}");
        }
    }
}
