using System.Text.Json;
using Muse.ModelBuilder.Amused;
using Muse.ModelBuilder.Weights;

namespace Muse.ModelBuilder.Tests;

/// <summary>
/// The imported aMUSEd graphs against the reference implementation: tests/fixtures/amused-tiny holds a tiny checkpoint
/// in diffusers layout (written by diffusers' UVit2DModel and VQModel and a CLIP text model) and reference.json, the
/// reference outputs for fixed inputs computed there. Parity is 1e-4 (relative above 1).
/// </summary>
public sealed class AmusedParityTests
{
    private const float Tolerance = 1e-4f;

    internal static string FixtureRoot { get; } = Path.Combine(RepositoryRoot(), "tests", "fixtures", "amused-tiny");

    internal static string Checkpoint => Path.Combine(FixtureRoot, "checkpoint");

    private static readonly Lazy<JsonElement> Reference = new(() =>
        JsonDocument.Parse(File.ReadAllText(Path.Combine(FixtureRoot, "reference.json"))).RootElement);

    [Fact]
    public void TextEncoder_ReferenceIds_MatchesPenultimateAndProjection()
    {
        var (config, weights) = AmusedCheckpoint.TextEncoder(Checkpoint);
        var reference = Reference.Value.GetProperty("text_encoder");
        var ids = Longs(reference.GetProperty("input_ids"));

        var output = Ort.Run(ClipTextGraph.Build(config, weights, 77), new Dictionary<string, TestTensor>
        {
            [ClipTextGraph.InputIds] = TestTensor.Of(ids, 2, 77),
        });

        GraphBuilderTests.AssertClose(Floats(reference.GetProperty("penultimate")), output[ClipTextGraph.Penultimate].F, Tolerance);
        GraphBuilderTests.AssertClose(Floats(reference.GetProperty("text_embeds")), output[ClipTextGraph.TextEmbeds].F, Tolerance);
    }

    [Fact]
    public void VqEncoder_ReferenceImage_MatchesLatentsAndTokens()
    {
        var (config, weights) = AmusedCheckpoint.Vqvae(Checkpoint);
        var reference = Reference.Value.GetProperty("vqvae");

        var output = Ort.Run(AmusedVqGraphs.BuildEncoder(config, weights, includeLatent: true), new Dictionary<string, TestTensor>
        {
            ["image"] = TestTensor.Of(Floats(reference.GetProperty("image")), 2, 3, 32, 32),
        });

        GraphBuilderTests.AssertClose(Floats(reference.GetProperty("latents")), output["z"].F, Tolerance);
        Assert.Equal(Longs(reference.GetProperty("encoded_tokens")), output["tokens"].L);
    }

    [Fact]
    public void VqDecoder_ReferenceTokens_MatchesPixels()
    {
        var (config, weights) = AmusedCheckpoint.Vqvae(Checkpoint);
        var reference = Reference.Value.GetProperty("vqvae");

        var output = Ort.Run(AmusedVqGraphs.BuildDecoder(config, weights), new Dictionary<string, TestTensor>
        {
            ["tokens"] = TestTensor.Of(Longs(reference.GetProperty("tokens")), 2, 8, 8),
        });

        Assert.Equal([2L, 3, 32, 32], output["image"].Shape);
        GraphBuilderTests.AssertClose(Floats(reference.GetProperty("decoded")), output["image"].F, Tolerance);
    }

    [Theory]
    [InlineData("transformer")]      // amused-256 form: no down/upsampling around the transformer layers
    [InlineData("transformer_512")]  // amused-512 form: RMSNorm + 2×2 conv down, transposed conv up
    public void UVit_ReferenceInputs_MatchesLogits(string variant)
    {
        var folder = variant == "transformer" ? Checkpoint : Path.Combine(FixtureRoot, variant);
        var (config, weights) = AmusedCheckpoint.Transformer(folder);
        var reference = Reference.Value.GetProperty("transformer").GetProperty(variant);

        var output = Ort.Run(UVitGraph.Build(config, weights, 77, 8), new Dictionary<string, TestTensor>
        {
            [UVitGraph.InputIds] = TestTensor.Of(Longs(reference.GetProperty("input_ids")), 2, 8, 8),
            [UVitGraph.EncoderHiddenStates] = TestTensor.Of(Floats(reference.GetProperty("encoder_hidden_states")), 2, 77, 32),
            [UVitGraph.PooledTextEmb] = TestTensor.Of(Floats(reference.GetProperty("pooled_text_emb")), 2, 24),
            [UVitGraph.MicroConds] = TestTensor.Of(Floats(reference.GetProperty("micro_conds")), 2, 5),
        });

        // The reference is [B, K, h, w]; the graph answers [B, h·w, K].
        var expected = Floats(reference.GetProperty("logits"));
        var actual = output[UVitGraph.Logits];
        Assert.Equal([2L, 64, 64], actual.Shape);
        var transposed = new float[expected.Length];
        for (var b = 0; b < 2; b++)
        {
            for (var k = 0; k < 64; k++)
            {
                for (var n = 0; n < 64; n++)
                {
                    transposed[(b * 64 * 64) + (n * 64) + k] = expected[(b * 64 * 64) + (k * 64) + n];
                }
            }
        }

        GraphBuilderTests.AssertClose(transposed, actual.F, Tolerance);
    }

    [Fact]
    public void Checkpoint_TensorRenamed_FailsNamingMissingAndUnknown()
    {
        using var directory = new TempDirectory();
        var dir = Path.Combine(directory.Path, "text_encoder");
        Directory.CreateDirectory(dir);
        File.Copy(Path.Combine(Checkpoint, "text_encoder", "config.json"), Path.Combine(dir, "config.json"));
        var weights = Safetensors.Read(Path.Combine(Checkpoint, "text_encoder", "model.safetensors"));
        weights["text_model.final_norm.weight"] = weights["text_model.final_layer_norm.weight"];
        weights.Remove("text_model.final_layer_norm.weight");
        weights["text_projection.weight"] = WeightTensor.Float(new float[24 * 31], 24, 31);
        Safetensors.Write(Path.Combine(dir, "model.safetensors"), weights);

        var error = Assert.Throws<InvalidDataException>(() => AmusedCheckpoint.TextEncoder(directory.Path));

        Assert.Contains("missing text_model.final_layer_norm.weight", error.Message, StringComparison.Ordinal);
        Assert.Contains("unexpected text_model.final_norm.weight", error.Message, StringComparison.Ordinal);
        Assert.Contains("text_projection.weight is F32 [24, 31], expected F32 [24, 32]", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Checkpoint_UnsupportedConfigValue_FailsNamingKey()
    {
        using var directory = new TempDirectory();
        var dir = Path.Combine(directory.Path, "transformer");
        Directory.CreateDirectory(dir);
        var config = File.ReadAllText(Path.Combine(Checkpoint, "transformer", "config.json")).Replace("\"use_bias\": false", "\"use_bias\": true", StringComparison.Ordinal);
        File.WriteAllText(Path.Combine(dir, "config.json"), config);

        var error = Assert.Throws<InvalidDataException>(() => AmusedCheckpoint.Transformer(directory.Path));

        Assert.Contains("use_bias = true is not supported", error.Message, StringComparison.Ordinal);
    }

    internal static float[] Floats(JsonElement array) => [.. array.EnumerateArray().Select(e => e.GetSingle())];

    // Flat or nested (row-major) lists.
    internal static long[] Longs(JsonElement array) =>
        [.. array.EnumerateArray().SelectMany(e => e.ValueKind == JsonValueKind.Array ? Longs(e) : [e.GetInt64()])];

    private static string RepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "MuseGrpc.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException("MuseGrpc.sln not found above the test binaries.");
    }
}
