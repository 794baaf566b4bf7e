using Muse.ModelBuilder.Graphs;
using Muse.ModelBuilder.Weights;
using Onnx;
using DataType = Onnx.TensorProto.Types.DataType;

namespace Muse.ModelBuilder.Architectures;

/// <summary>
/// Masked token transformer, base or super-resolution (models/README.md). Inputs <c>tokens</c> int64 [B, N],
/// <c>text_embeddings</c> float [B, L, Dt], <c>text_mask</c> float [B, L] and, for sr, <c>low_res_tokens</c>
/// int64 [B, M]; output <c>logits</c> float [B, N, K].
/// </summary>
public static class MaskedTransformerGraph
{
    /// <summary>ONNX input: token grid, row-major, masked positions = <see cref="TransformerConfig.MaskTokenId"/>.</summary>
    public const string Tokens = "tokens";

    /// <summary>ONNX input: text encoder output.</summary>
    public const string TextEmbeddings = "text_embeddings";

    /// <summary>ONNX input: 1 for text tokens, 0 for padding.</summary>
    public const string TextMask = "text_mask";

    /// <summary>ONNX input (sr only): the base model's token grid.</summary>
    public const string LowResTokens = "low_res_tokens";

    /// <summary>ONNX output: logits over the codebook (the mask token is never predicted).</summary>
    public const string Logits = "logits";

    /// <summary>The weights of <paramref name="config"/>, with fixture initialisation.</summary>
    public static IReadOnlyList<WeightSpec> WeightSpecs(TransformerConfig config)
    {
        long d = config.DModel;
        long f = config.MlpDim;
        var specs = new List<WeightSpec>
        {
            new("token_embedding.weight", [config.CodebookSize + 1, d], WeightInit.Normal(1.0)),
            new("position_embedding", [config.GridTokens, d], WeightInit.Normal(1.0)),
        };
        specs.AddLinear("text_projection", config.TextDim, d);
        if (config.IsSuperResolution)
        {
            specs.Add(new("low_res_embedding.weight", [config.CodebookSize, d], WeightInit.Normal(1.0)));
            specs.Add(new("low_res_position_embedding", [config.LowResTokens, d], WeightInit.Normal(1.0)));
            if (config.AlignedLowRes)
            {
                specs.Add(new("low_res_aligned_embedding.weight", [config.CodebookSize, d], WeightInit.Normal(1.0)));
            }
        }

        for (var i = 0; i < config.NumLayers; i++)
        {
            foreach (var norm in new[] { "norm1", "norm2", "norm3" })
            {
                specs.AddNorm($"layers.{i}.{norm}", d);
            }

            foreach (var attention in new[] { "self_attn", "cross_attn" })
            {
                foreach (var projection in new[] { "q", "k", "v", "o" })
                {
                    specs.AddLinear($"layers.{i}.{attention}.{projection}", d, d);
                }
            }

            specs.AddLinear($"layers.{i}.mlp.fc1", d, f);
            specs.AddLinear($"layers.{i}.mlp.fc2", f, d);
        }

        specs.AddNorm("norm_out", d);
        specs.AddLinear("to_logits", d, config.CodebookSize);
        return specs;
    }

    /// <summary>Builds the transformer graph from validated <paramref name="weights"/>.</summary>
    public static ModelProto Build(TransformerConfig config, IReadOnlyDictionary<string, WeightTensor> weights, ExternalDataWriter? externalData = null)
    {
        config.Validate();
        WeightSpec.Validate(WeightSpecs(config), weights);
        var g = new GraphBuilder(config.IsSuperResolution ? "muse_sr" : "muse_base", weights, externalData);
        var tokens = g.Input(Tokens, DataType.Int64, "batch", config.GridTokens);
        var text = g.Input(TextEmbeddings, DataType.Float, "batch", config.TextMaxLength, config.TextDim);
        var textMask = g.Input(TextMask, DataType.Float, "batch", config.TextMaxLength);

        var x = g.Add(g.Gather(g.Weight("token_embedding.weight"), tokens), g.Weight("position_embedding"));   // [B, N, D]
        var context = g.Linear(text, "text_projection", bias: true);                                           // [B, L, D]
        var contextMask = textMask;                                                                            // [B, L]
        if (config.IsSuperResolution)
        {
            var lowRes = g.Input(LowResTokens, DataType.Int64, "batch", config.LowResTokens);
            var lowResContext = g.Add(g.Gather(g.Weight("low_res_embedding.weight"), lowRes), g.Weight("low_res_position_embedding"));   // [B, M, D]
            context = g.Concat(1, context, lowResContext);                                                     // [B, L+M, D]

            // Low-res tokens are always attended to: their mask is ones shaped like low_res_tokens.
            var lowResMask = g.Op("ConstantOfShape", [g.Op("Shape", [lowRes])], Attr.FloatTensor("value", 1f));   // [B, M]
            contextMask = g.Concat(1, textMask, lowResMask);                                                   // [B, L+M]
            if (config.AlignedLowRes)
            {
                var beneath = g.Op("Gather", [lowRes, g.Int64Initializer("low_res_beneath", LowResBeneath(config.GridHeight, config.GridWidth, config.LowResGridHeight, config.LowResGridWidth), [config.GridTokens])], Attr.Int("axis", 1));   // [B, N]
                x = g.Add(x, g.Gather(g.Weight("low_res_aligned_embedding.weight"), beneath));                 // [B, N, D]
            }
        }

        var keyBias = g.KeyMaskBias(contextMask);                                                              // [B, 1, 1, L(+M)]
        var scale = 1.0 / Math.Sqrt(config.DModel / config.NumHeads);
        for (var i = 0; i < config.NumLayers; i++)
        {
            var layer = $"layers.{i}";
            var h = g.LayerNorm(x, $"{layer}.norm1", config.Eps);
            x = g.Add(x, g.MultiHeadAttention(h, h, $"{layer}.self_attn", config.NumHeads, bias: true, scale));
            h = g.LayerNorm(x, $"{layer}.norm2", config.Eps);
            x = g.Add(x, g.MultiHeadAttention(h, context, $"{layer}.cross_attn", config.NumHeads, bias: true, scale, keyBias));
            h = g.LayerNorm(x, $"{layer}.norm3", config.Eps);
            x = g.Add(x, g.Linear(g.Gelu(g.Linear(h, $"{layer}.mlp.fc1", bias: true)), $"{layer}.mlp.fc2", bias: true));
        }

        var logits = g.Linear(g.LayerNorm(x, "norm_out", config.Eps), "to_logits", bias: true);                // [B, N, K]
        g.Output(logits, Logits, DataType.Float, "batch", config.GridTokens, config.CodebookSize);
        return g.Build(new Dictionary<string, string> { ["muse.architecture"] = config.ToJson() });
    }

    /// <summary>
    /// For each position of a <paramref name="height"/>×<paramref name="width"/> grid (row-major), the index of the
    /// low-res token covering it: nearest upsampling by whole factors (the trainer uses the same map).
    /// </summary>
    public static long[] LowResBeneath(int height, int width, int lowResHeight, int lowResWidth)
    {
        var rowFactor = height / lowResHeight;
        var columnFactor = width / lowResWidth;
        var map = new long[height * width];
        for (var r = 0; r < height; r++)
        {
            for (var c = 0; c < width; c++)
            {
                map[(r * width) + c] = ((r / rowFactor) * lowResWidth) + (c / columnFactor);
            }
        }

        return map;
    }
}
