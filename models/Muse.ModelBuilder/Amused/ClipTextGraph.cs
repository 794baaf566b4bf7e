using Muse.ModelBuilder.Architectures;
using Muse.ModelBuilder.Graphs;
using Muse.ModelBuilder.Weights;
using Onnx;
using DataType = Onnx.TensorProto.Types.DataType;

namespace Muse.ModelBuilder.Amused;

/// <summary>
/// CLIP's text transformer with its projection, returning what aMUSEd feeds the U-ViT: the penultimate layer's hidden
/// states (<c>hidden_states[-2]</c>, before the final LayerNorm) and the projected pooled embedding
/// (<c>text_embeds</c>). Input <c>input_ids</c> int64 [B, L] with L fixed (77: aMUSEd always pads to it); causal
/// self-attention only, as the pipeline passes no padding mask. Initializers keep the transformers weight names.
/// </summary>
public static class ClipTextGraph
{
    /// <summary>ONNX input: token ids int64 [B, L].</summary>
    public const string InputIds = "input_ids";

    /// <summary>ONNX output: hidden states of the second-to-last layer, float [B, L, D].</summary>
    public const string Penultimate = "penultimate_hidden_state";

    /// <summary>ONNX output: projected pooled embedding, float [B, P].</summary>
    public const string TextEmbeds = "text_embeds";

    private const string P = "text_model.";

    /// <summary>Every tensor of <c>model.safetensors</c> the graph reads, with its shape.</summary>
    public static IReadOnlyList<WeightSpec> WeightSpecs(ClipTextConfig c)
    {
        var d = c.Hidden;
        var specs = new List<WeightSpec>
        {
            new($"{P}embeddings.token_embedding.weight", [c.VocabSize, d], WeightInit.Normal(0.02)),
            new($"{P}embeddings.position_embedding.weight", [c.MaxPositions, d], WeightInit.Normal(0.01)),
        };
        for (var i = 0; i < c.Layers; i++)
        {
            var l = $"{P}encoder.layers.{i}.";
            foreach (var proj in new[] { "q_proj", "k_proj", "v_proj", "out_proj" })
            {
                specs.AddLinear($"{l}self_attn.{proj}", d, d);
            }

            specs.AddNorm($"{l}layer_norm1", d);
            specs.AddNorm($"{l}layer_norm2", d);
            specs.AddLinear($"{l}mlp.fc1", d, c.Intermediate);
            specs.AddLinear($"{l}mlp.fc2", c.Intermediate, d);
        }

        specs.AddNorm($"{P}final_layer_norm", d);
        specs.Add(new("text_projection.weight", [c.ProjectionDim, d], WeightInit.FanIn(d)));
        return specs;
    }

    /// <summary>Builds the graph for sequences of <paramref name="length"/> tokens.</summary>
    public static ModelProto Build(ClipTextConfig c, IReadOnlyDictionary<string, WeightTensor> weights, int length, ExternalDataWriter? externalData = null)
    {
        if (length > c.MaxPositions)
        {
            throw new InvalidDataException($"Sequence length {length} exceeds max_position_embeddings {c.MaxPositions}.");
        }

        var g = new GraphBuilder("clip_text_encoder", weights, externalData);
        var ids = g.Input(InputIds, DataType.Int64, "batch", length);
        var positions = weights[$"{P}embeddings.position_embedding.weight"].Floats.AsSpan(0, length * c.Hidden).ToArray();
        var x = g.Add(g.Gather(g.Weight($"{P}embeddings.token_embedding.weight"), ids),
            g.Initializer($"{P}embeddings.position_embedding.weight", positions, [length, c.Hidden]));   // [B, L, D]

        // Causal mask: key j > query i is never attended.
        var causal = new float[length * length];
        for (var i = 0; i < length; i++)
        {
            for (var j = i + 1; j < length; j++)
            {
                causal[(i * length) + j] = GraphBuilder.MaskedKeyBias;
            }
        }

        var mask = g.Initializer("causal_mask", causal, [length, length]);
        var headDim = c.Hidden / c.Heads;
        string? penultimate = null;
        for (var i = 0; i < c.Layers; i++)
        {
            var l = $"{P}encoder.layers.{i}.";
            var h = g.LayerNorm(x, $"{l}layer_norm1", c.Eps);
            x = g.Add(x, Attention(g, h, $"{l}self_attn", c.Heads, headDim, mask));
            h = g.Linear(g.LayerNorm(x, $"{l}layer_norm2", c.Eps), $"{l}mlp.fc1", bias: true);
            h = c.QuickGelu ? g.Mul(h, g.Op("Sigmoid", [g.Mul(h, 1.702f)])) : g.Gelu(h);
            x = g.Add(x, g.Linear(h, $"{l}mlp.fc2", bias: true));
            if (i == c.Layers - 2)
            {
                penultimate = x;
            }
        }

        var last = g.LayerNorm(x, $"{P}final_layer_norm", c.Eps);                         // [B, L, D]

        // Pooling position: the highest id (legacy eos_token_id 2: <|endoftext|> is the last vocabulary entry) or the
        // first eos id; ArgMax keeps the first index on ties. A one-hot row selects it exactly.
        var scores = c.EosTokenId == 2
            ? g.Cast(ids, DataType.Float)
            : g.Cast(g.Op("Equal", [ids, g.Int64Initializer("eos", [c.EosTokenId], [])]), DataType.Float);
        var eos = g.Op("ArgMax", [scores], Attr.Int("axis", 1), Attr.Int("keepdims", 1), Attr.Int("select_last_index", 0));  // [B, 1]
        var range = g.Int64Initializer("positions", [.. Enumerable.Range(0, length).Select(i => (long)i)], [length]);
        var oneHot = g.Unsqueeze(g.Cast(g.Op("Equal", [range, eos]), DataType.Float), 1);          // [B, 1, L]
        var pooled = g.Reshape(g.MatMul(oneHot, last), 0, -1);                                      // [B, D]
        var projected = g.Linear(pooled, "text_projection", bias: false);                           // [B, P]

        g.Output(penultimate!, Penultimate, DataType.Float, "batch", length, c.Hidden);
        g.Output(projected, TextEmbeds, DataType.Float, "batch", c.ProjectionDim);
        return g.Build();
    }

    /// <summary>Multi-head attention with the given projection weight names (transformers: q_proj…, diffusers: to_q…).</summary>
    internal static string Attention(GraphBuilder g, string query, string context, string q, string k, string v, string o,
        int heads, int headDim, bool bias, string? scoreBias = null)
    {
        string Split(string x) => g.Transpose(g.Reshape(x, 0, 0, heads, headDim), 0, 2, 1, 3);
        var qs = Split(g.Linear(query, q, bias));
        var ks = Split(g.Linear(context, k, bias));
        var vs = Split(g.Linear(context, v, bias));
        var scores = g.Mul(g.MatMul(qs, g.Transpose(ks, 0, 1, 3, 2)), (float)(1 / Math.Sqrt(headDim)));
        if (scoreBias is not null)
        {
            scores = g.Add(scores, scoreBias);
        }

        var merged = g.Reshape(g.Transpose(g.MatMul(g.Op("Softmax", [scores], Attr.Int("axis", -1)), vs), 0, 2, 1, 3), 0, 0, -1);
        return g.Linear(merged, o, bias);
    }

    private static string Attention(GraphBuilder g, string x, string prefix, int heads, int headDim, string mask) =>
        Attention(g, x, x, $"{prefix}.q_proj", $"{prefix}.k_proj", $"{prefix}.v_proj", $"{prefix}.out_proj", heads, headDim, true, mask);
}
