using System.Text.Json;
using System.Text.Json.Nodes;
using Muse.ModelBuilder.Architectures;
using Muse.ModelBuilder.Weights;

namespace Muse.ModelBuilder.Amused;

/// <summary>The three component configs of an aMUSEd checkpoint, as diffusers/transformers write them.</summary>
/// <param name="TextEncoder"><c>text_encoder/config.json</c> (transformers <c>CLIPTextConfig</c>).</param>
/// <param name="Transformer"><c>transformer/config.json</c> (diffusers <c>UVit2DModel</c>).</param>
/// <param name="Vqvae"><c>vqvae/config.json</c> (diffusers <c>VQModel</c>).</param>
public sealed record AmusedShapes(JsonObject TextEncoder, JsonObject Transformer, JsonObject Vqvae);

/// <summary>
/// Writes a seeded random aMUSEd checkpoint in diffusers layout (what <see cref="AmusedCheckpoint"/> reads): the
/// component configs, float32 safetensors written one tensor at a time (a full-size model never sits in memory), a
/// copied CLIP tokenizer folder, the scheduler config and model_index.json. It measures the import and the pipeline
/// at real sizes without the real weights.
/// </summary>
public static class AmusedRandomCheckpoint
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <summary>
    /// The shapes of the published checkpoints: CLIP ViT-L/14's text tower with projection and diffusers'
    /// <c>UVit2DModel</c> and aMUSEd <c>VQModel</c> (16× down, 8192 codes). amused-512 runs 32×32 tokens through a
    /// downsampling U-ViT, amused-256 16×16 without.
    /// </summary>
    public static IReadOnlyDictionary<string, AmusedShapes> Presets { get; } = new Dictionary<string, AmusedShapes>(StringComparer.Ordinal)
    {
        ["amused-512"] = new(Clip(), UVit(sampleSize: 32, resample: true), Vq()),
        ["amused-256"] = new(Clip(), UVit(sampleSize: 16, resample: false), Vq()),
    };

    /// <summary>The component configs of an existing checkpoint folder.</summary>
    public static AmusedShapes Read(string checkpoint) => new(
        Load(Path.Combine(checkpoint, "text_encoder", "config.json")),
        Load(Path.Combine(checkpoint, "transformer", "config.json")),
        Load(Path.Combine(checkpoint, "vqvae", "config.json")));

    /// <summary>
    /// Writes the checkpoint into <paramref name="folder"/> (created; existing component files replaced). Element
    /// values depend on <paramref name="seed"/> only; the tokenizer files come from <paramref name="tokenizer"/>.
    /// </summary>
    /// <returns>Bytes of safetensors written.</returns>
    public static long Write(string folder, AmusedShapes shapes, string tokenizer, ulong seed)
    {
        ArgumentNullException.ThrowIfNull(shapes);
        if (!File.Exists(Path.Combine(tokenizer, "vocab.json")) || !File.Exists(Path.Combine(tokenizer, "merges.txt")))
        {
            throw new InvalidDataException($"{tokenizer} needs vocab.json and merges.txt.");
        }

        var transformerConfig = WriteConfig(folder, "transformer", shapes.Transformer);
        var text = ClipTextConfig.Read(WriteConfig(folder, "text_encoder", shapes.TextEncoder));
        var vq = AmusedVqConfig.Read(WriteConfig(folder, "vqvae", shapes.Vqvae));
        var uvit = UVitConfig.Read(transformerConfig);
        var bytes = WriteWeights(Path.Combine(folder, "text_encoder", "model.safetensors"), ClipTextGraph.WeightSpecs(text), seed, 0)
            + WriteWeights(Path.Combine(folder, "transformer", "diffusion_pytorch_model.safetensors"), UVitGraph.WeightSpecs(uvit), seed, 1)
            + WriteWeights(Path.Combine(folder, "vqvae", "diffusion_pytorch_model.safetensors"), AmusedVqGraphs.WeightSpecs(vq), seed, 2);

        var target = Directory.CreateDirectory(Path.Combine(folder, "tokenizer")).FullName;
        foreach (var file in Directory.EnumerateFiles(tokenizer))
        {
            File.Copy(file, Path.Combine(target, Path.GetFileName(file)), overwrite: true);
        }

        WriteConfig(folder, "scheduler", new JsonObject
        {
            ["_class_name"] = "AmusedScheduler",
            ["mask_token_id"] = uvit.VocabSize - 1,
            ["masking_schedule"] = "cosine",
        }, "scheduler_config.json");
        File.WriteAllText(Path.Combine(folder, "model_index.json"), new JsonObject
        {
            ["_class_name"] = "AmusedPipeline",
            ["scheduler"] = new JsonArray("diffusers", "AmusedScheduler"),
            ["text_encoder"] = new JsonArray("transformers", "CLIPTextModelWithProjection"),
            ["tokenizer"] = new JsonArray("transformers", "CLIPTokenizer"),
            ["transformer"] = new JsonArray("diffusers", "UVit2DModel"),
            ["vqvae"] = new JsonArray("diffusers", "VQModel"),
        }.ToJsonString(Indented));
        return bytes;
    }

    private static long WriteWeights(string path, IReadOnlyList<WeightSpec> specs, ulong seed, ulong stream)
    {
        Safetensors.Write(path, RandomWeights.Lazy(specs, seed, stream), new Dictionary<string, string> { ["format"] = "pt" });
        return new FileInfo(path).Length;
    }

    private static string WriteConfig(string folder, string component, JsonObject config, string file = "config.json")
    {
        var path = Path.Combine(Directory.CreateDirectory(Path.Combine(folder, component)).FullName, file);
        File.WriteAllText(path, config.ToJsonString(Indented));
        return path;
    }

    private static JsonObject Load(string path) =>
        JsonNode.Parse(File.ReadAllText(path)) as JsonObject ?? throw new InvalidDataException($"{path} is not a JSON object.");

    // transformers' CLIPTextConfig as aMUSEd ships it (legacy ids bos 0 / eos 2, exact gelu).
    private static JsonObject Clip() => new()
    {
        ["architectures"] = new JsonArray("CLIPTextModelWithProjection"),
        ["bos_token_id"] = 0,
        ["eos_token_id"] = 2,
        ["hidden_act"] = "gelu",
        ["hidden_size"] = 768,
        ["intermediate_size"] = 3072,
        ["layer_norm_eps"] = 1e-5,
        ["max_position_embeddings"] = 77,
        ["model_type"] = "clip_text_model",
        ["num_attention_heads"] = 12,
        ["num_hidden_layers"] = 12,
        ["pad_token_id"] = 1,
        ["projection_dim"] = 768,
        ["torch_dtype"] = "float32",
        ["vocab_size"] = 49408,
    };

    // diffusers' UVit2DModel defaults (1024 wide, 22 layers, 16 heads, 2816 MLP, 8192 codes + mask).
    private static JsonObject UVit(int sampleSize, bool resample) => new()
    {
        ["_class_name"] = "UVit2DModel",
        ["attention_dropout"] = 0.1,
        ["block_num_heads"] = 12,
        ["block_out_channels"] = 768,
        ["codebook_size"] = 8192,
        ["cond_embed_dim"] = 768,
        ["downsample"] = resample,
        ["encoder_hidden_size"] = 768,
        ["hidden_dropout"] = 0.1,
        ["hidden_size"] = 1024,
        ["in_channels"] = 768,
        ["intermediate_size"] = 2816,
        ["layer_norm_eps"] = 1e-6,
        ["ln_elementwise_affine"] = true,
        ["micro_cond_embed_dim"] = 1280,
        ["micro_cond_encode_dim"] = 256,
        ["num_attention_heads"] = 16,
        ["num_hidden_layers"] = 22,
        ["num_res_blocks"] = 3,
        ["sample_size"] = sampleSize,
        ["upsample"] = resample,
        ["use_bias"] = false,
        ["vocab_size"] = 8256,
    };

    // aMUSEd's VQ-GAN: five levels (16× down), 64 latent channels, no middle attention, codebook lookup.
    private static JsonObject Vq() => new()
    {
        ["_class_name"] = "VQModel",
        ["act_fn"] = "silu",
        ["block_out_channels"] = new JsonArray(128, 256, 256, 512, 768),
        ["down_block_types"] = new JsonArray([.. Levels("DownEncoderBlock2D")]),
        ["force_upcast"] = true,
        ["in_channels"] = 3,
        ["latent_channels"] = 64,
        ["layers_per_block"] = 2,
        ["lookup_from_codebook"] = true,
        ["mid_block_add_attention"] = false,
        ["norm_num_groups"] = 32,
        ["norm_type"] = "group",
        ["num_vq_embeddings"] = 8192,
        ["out_channels"] = 3,
        ["sample_size"] = 32,
        ["scaling_factor"] = 0.18215,
        ["up_block_types"] = new JsonArray([.. Levels("UpDecoderBlock2D")]),
        ["vq_embed_dim"] = null,
    };

    private static IEnumerable<JsonNode?> Levels(string type) => Enumerable.Range(0, 5).Select(_ => (JsonNode?)type);
}
