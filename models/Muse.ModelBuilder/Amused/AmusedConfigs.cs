using System.Text.Json;
using System.Text.Json.Nodes;

namespace Muse.ModelBuilder.Amused;

/// <summary>
/// Reads the <c>config.json</c> values of a diffusers/transformers component that the import supports. A value
/// the graphs would ignore or get wrong (another activation, biases where aMUSEd has none, attention in the VQ-GAN's
/// middle block) stops the import with a message naming the file and the key.
/// </summary>
internal sealed class ConfigReader
{
    private readonly JsonObject _json;

    private ConfigReader(string path, JsonObject json)
    {
        Path = path;
        _json = json;
    }

    public string Path { get; }

    public static ConfigReader Load(string path)
    {
        if (!File.Exists(path))
        {
            throw new InvalidDataException($"{path} is missing.");
        }

        return new ConfigReader(path, JsonNode.Parse(File.ReadAllText(path)) as JsonObject
            ?? throw new InvalidDataException($"{path}: not a JSON object."));
    }

    public int Int(string key, int? fallback = null) => (int)Get(key, fallback, n => n.GetValue<int>());

    public int? IntOrNull(string key) => _json[key] is null ? null : Int(key);

    public double Double(string key, double? fallback = null) => (double)Get(key, fallback, n => n.GetValue<double>());

    public bool Bool(string key, bool? fallback = null) => (bool)Get(key, fallback, n => n.GetValue<bool>());

    public string String(string key, string? fallback = null) => (string)Get(key, fallback, n => n.GetValue<string>());

    public string[] Strings(string key) => _json[key] is JsonArray array
        ? [.. array.Select(n => n?.GetValue<string>() ?? "")]
        : throw new InvalidDataException($"{Path}: '{key}' is missing or not a list.");

    public int[] Ints(string key) => _json[key] is JsonArray array
        ? [.. array.Select(n => n?.GetValue<int>() ?? 0)]
        : throw new InvalidDataException($"{Path}: '{key}' is missing or not a list.");

    public void Require<T>(string key, T supported, T? fallback = default)
        where T : notnull
    {
        var value = _json[key] is { } node ? node.Deserialize<T>() : fallback;
        if (!EqualityComparer<T>.Default.Equals(value!, supported))
        {
            throw new InvalidDataException($"{Path}: {key} = {JsonSerializer.Serialize(value)} is not supported (the import handles {JsonSerializer.Serialize(supported)}).");
        }
    }

    private object Get(string key, object? fallback, Func<JsonNode, object> read)
    {
        if (_json[key] is not { } node)
        {
            return fallback ?? throw new InvalidDataException($"{Path}: '{key}' is missing.");
        }

        try
        {
            return read(node);
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException)
        {
            throw new InvalidDataException($"{Path}: '{key}' has the wrong type ({node.ToJsonString()}).", e);
        }
    }
}

/// <summary>transformers' <c>CLIPTextModelWithProjection</c> as aMUSEd uses it.</summary>
/// <param name="VocabSize">Token embedding rows.</param>
/// <param name="Hidden">Width D.</param>
/// <param name="Intermediate">MLP width.</param>
/// <param name="Heads">Attention heads.</param>
/// <param name="Layers">Encoder layers.</param>
/// <param name="MaxPositions">Position embedding rows.</param>
/// <param name="ProjectionDim">Width of <c>text_embeds</c>.</param>
/// <param name="QuickGelu"><c>hidden_act</c> is <c>quick_gelu</c> (x·σ(1.702x)) rather than exact <c>gelu</c>.</param>
/// <param name="Eps">LayerNorm epsilon.</param>
/// <param name="EosTokenId">2 (legacy configs) pools at the highest id; anything else at the first occurrence of that id.</param>
public sealed record ClipTextConfig(int VocabSize, int Hidden, int Intermediate, int Heads, int Layers, int MaxPositions,
    int ProjectionDim, bool QuickGelu, double Eps, int EosTokenId)
{
    internal static ClipTextConfig Read(string path)
    {
        var c = ConfigReader.Load(path);
        var act = c.String("hidden_act", "quick_gelu");
        if (act is not ("gelu" or "quick_gelu"))
        {
            throw new InvalidDataException($"{path}: hidden_act = \"{act}\" is not supported (gelu, quick_gelu).");
        }

        var config = new ClipTextConfig(c.Int("vocab_size"), c.Int("hidden_size"), c.Int("intermediate_size"),
            c.Int("num_attention_heads"), c.Int("num_hidden_layers"), c.Int("max_position_embeddings"),
            c.Int("projection_dim"), act == "quick_gelu", c.Double("layer_norm_eps", 1e-5), c.Int("eos_token_id", 2));
        if (config.Hidden % config.Heads != 0 || config.Layers < 2)
        {
            throw new InvalidDataException($"{path}: hidden_size {config.Hidden} must divide by num_attention_heads {config.Heads}, and the penultimate layer needs num_hidden_layers ≥ 2.");
        }

        return config;
    }
}

/// <summary>diffusers' <c>VQModel</c> in aMUSEd's form: group norms, no middle-block attention, codebook lookup.</summary>
/// <param name="Channels">block_out_channels, one per resolution.</param>
/// <param name="LayersPerBlock">ResNet blocks per encoder level (decoder: one more).</param>
/// <param name="LatentChannels">Encoder output / decoder input width.</param>
/// <param name="EmbedDim">Codebook entry width (vq_embed_dim, default latent_channels).</param>
/// <param name="CodebookSize">num_vq_embeddings.</param>
/// <param name="Groups">norm_num_groups.</param>
public sealed record AmusedVqConfig(int[] Channels, int LayersPerBlock, int LatentChannels, int EmbedDim, int CodebookSize, int Groups)
{
    /// <summary>GroupNorm epsilon of every VQ-GAN norm.</summary>
    public const double Eps = 1e-6;

    /// <summary>Pixels per token side: 2^(levels − 1).</summary>
    public int DownsampleFactor => 1 << (Channels.Length - 1);

    internal static AmusedVqConfig Read(string path)
    {
        var c = ConfigReader.Load(path);
        c.Require("act_fn", "silu", "silu");
        c.Require("norm_type", "group", "group");
        c.Require("mid_block_add_attention", false, true);
        c.Require("in_channels", 3, 3);
        c.Require("out_channels", 3, 3);
        var channels = c.Ints("block_out_channels");
        foreach (var (key, expected) in new[] { ("down_block_types", "DownEncoderBlock2D"), ("up_block_types", "UpDecoderBlock2D") })
        {
            var types = c.Strings(key);
            if (types.Length != channels.Length || types.Any(t => t != expected))
            {
                throw new InvalidDataException($"{path}: {key} must be {channels.Length} × {expected}.");
            }
        }

        var latent = c.Int("latent_channels");
        return new AmusedVqConfig(channels, c.Int("layers_per_block", 1), latent,
            c.IntOrNull("vq_embed_dim") ?? latent,
            c.Int("num_vq_embeddings"), c.Int("norm_num_groups", 32));
    }
}

/// <summary>diffusers' <c>UVit2DModel</c> (aMUSEd's masked transformer), both the 256 and 512 variants.</summary>
public sealed record UVitConfig(
    int Hidden, int CondEmbedDim, int MicroCondEncodeDim, int MicroCondEmbedDim, int EncoderHidden, int VocabSize,
    int CodebookSize, int InChannels, int BlockChannels, int ResBlocks, bool Downsample, bool Upsample, int BlockHeads,
    int Layers, int Heads, int Intermediate, double Eps, int SampleSize)
{
    /// <summary>The micro-conditions: original width and height, crop top and left, aesthetic score.</summary>
    public const int MicroConditions = 5;

    /// <summary>Width of the conditioning MLP's input: pooled text embedding then the encoded micro-conditions.</summary>
    public int CondInput => CondEmbedDim + MicroCondEmbedDim;

    internal static UVitConfig Read(string path)
    {
        var c = ConfigReader.Load(path);
        c.Require("use_bias", false, false);
        c.Require("ln_elementwise_affine", true, true);
        var config = new UVitConfig(c.Int("hidden_size"), c.Int("cond_embed_dim"), c.Int("micro_cond_encode_dim"),
            c.Int("micro_cond_embed_dim"), c.Int("encoder_hidden_size"), c.Int("vocab_size"), c.Int("codebook_size"),
            c.Int("in_channels"), c.Int("block_out_channels"), c.Int("num_res_blocks"), c.Bool("downsample", false),
            c.Bool("upsample", false), c.Int("block_num_heads"), c.Int("num_hidden_layers"), c.Int("num_attention_heads"),
            c.Int("intermediate_size"), c.Double("layer_norm_eps", 1e-6), c.Int("sample_size"));
        if (config.MicroCondEmbedDim != MicroConditions * config.MicroCondEncodeDim || config.MicroCondEncodeDim % 2 != 0)
        {
            throw new InvalidDataException($"{path}: micro_cond_embed_dim {config.MicroCondEmbedDim} must be {MicroConditions} × micro_cond_encode_dim (even) {config.MicroCondEncodeDim}.");
        }

        if (config.Hidden % config.Heads != 0 || config.BlockChannels % config.BlockHeads != 0 || config.VocabSize <= config.CodebookSize)
        {
            throw new InvalidDataException($"{path}: hidden_size/num_attention_heads, block_out_channels/block_num_heads must divide and vocab_size must exceed codebook_size.");
        }

        return config;
    }
}
