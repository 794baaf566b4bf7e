using Muse.ModelBuilder.Architectures;
using Muse.ModelBuilder.Graphs;
using Muse.ModelBuilder.Weights;
using Onnx;
using DataType = Onnx.TensorProto.Types.DataType;

namespace Muse.ModelBuilder.Amused;

/// <summary>
/// aMUSEd's U-ViT (diffusers <c>UVit2DModel</c>) from ONNX primitives: RMSNorm, GEGLU, GlobalResponseNorm, adaptive
/// (pooled-text) norms and the sinusoidal micro-condition embedding are built from Reduce/Mul/Erf/Sin/Cos, as opset 17
/// has none of them. Inputs <c>input_ids</c> int64 [B, h, w] (mask id = vocab_size − 1), <c>encoder_hidden_states</c>
/// [B, L, De], <c>pooled_text_emb</c> [B, Dc], <c>micro_conds</c> [B, 5]; output <c>logits</c> [B, h·w, K], the
/// transformer stage's layout (diffusers returns [B, K, h, w]; the same numbers, transposed).
/// </summary>
public static class UVitGraph
{
    /// <summary>ONNX input names.</summary>
    public const string InputIds = "input_ids", EncoderHiddenStates = "encoder_hidden_states", PooledTextEmb = "pooled_text_emb", MicroConds = "micro_conds";

    /// <summary>Input of <see cref="BuildForStage"/>: int64 [B, h·w], mask token = codebook size.</summary>
    public const string StageTokens = "tokens";

    /// <summary>ONNX output name.</summary>
    public const string Logits = "logits";

    // SkipFFTransformerBlock's RMSNorms use 1e-6 whatever layer_norm_eps says; so does GlobalResponseNorm's divisor.
    private const double BlockEps = 1e-6;

    /// <summary>Every tensor of the transformer's safetensors, with its shape.</summary>
    public static IReadOnlyList<WeightSpec> WeightSpecs(UVitConfig c)
    {
        var s = new List<WeightSpec>();
        void Lin(string name, int i, int o) => s.Add(new($"{name}.weight", [o, i], WeightInit.FanIn(i)));
        void Rms(string name, int d) => s.Add(new($"{name}.weight", [d], WeightInit.Ones));
        void Attn(string p, int q, int kv, int inner)
        {
            Lin($"{p}.to_q", q, inner);
            Lin($"{p}.to_k", kv, inner);
            Lin($"{p}.to_v", kv, inner);
            Lin($"{p}.to_out.0", inner, q);
        }

        void Block(string p, bool down, bool up)
        {
            var ch = c.BlockChannels;
            if (down)
            {
                Rms($"{p}.downsample.norm", ch);
                s.Add(new($"{p}.downsample.conv.weight", [ch, ch, 2, 2], WeightInit.FanIn(ch * 4)));
            }

            for (var i = 0; i < c.ResBlocks; i++)
            {
                var r = $"{p}.res_blocks.{i}";
                s.Add(new($"{r}.depthwise.weight", [ch, 1, 3, 3], WeightInit.FanIn(9)));
                Rms($"{r}.norm", ch);
                Lin($"{r}.channelwise_linear_1", ch, ch * 4);
                s.Add(new($"{r}.channelwise_norm.gamma", [1, 1, 1, ch * 4], WeightInit.Zeros));
                s.Add(new($"{r}.channelwise_norm.beta", [1, 1, 1, ch * 4], WeightInit.Zeros));
                Lin($"{r}.channelwise_linear_2", ch * 4, ch);
                Lin($"{r}.cond_embeds_mapper", c.Hidden, ch * 2);
                var a = $"{p}.attention_blocks.{i}";
                if (c.Hidden != ch)
                {
                    Lin($"{a}.kv_mapper", c.Hidden, ch);
                }

                Rms($"{a}.norm1", ch);
                Attn($"{a}.attn1", ch, ch, ch);
                Rms($"{a}.norm2", ch);
                Attn($"{a}.attn2", ch, ch, ch);
            }

            if (up)
            {
                Rms($"{p}.upsample.norm", ch);
                s.Add(new($"{p}.upsample.conv.weight", [ch, ch, 2, 2], WeightInit.FanIn(ch * 4)));
            }
        }

        Lin("encoder_proj", c.EncoderHidden, c.Hidden);
        Rms("encoder_proj_layer_norm", c.Hidden);
        s.Add(new("embed.embeddings.weight", [c.VocabSize, c.InChannels], WeightInit.Normal(0.02)));
        Rms("embed.layer_norm", c.InChannels);
        s.Add(new("embed.conv.weight", [c.BlockChannels, c.InChannels, 1, 1], WeightInit.FanIn(c.InChannels)));
        Lin("cond_embed.linear_1", c.CondInput, c.Hidden);
        Lin("cond_embed.linear_2", c.Hidden, c.Hidden);
        Block("down_block", c.Downsample, false);
        Rms("project_to_hidden_norm", c.BlockChannels);
        Lin("project_to_hidden", c.BlockChannels, c.Hidden);
        for (var i = 0; i < c.Layers; i++)
        {
            var t = $"transformer_layers.{i}";
            for (var n = 1; n <= 3; n++)
            {
                Lin($"{t}.norm{n}.linear", c.Hidden, c.Hidden * 2);
                Rms($"{t}.norm{n}.norm", c.Hidden);
            }

            Attn($"{t}.attn1", c.Hidden, c.Hidden, c.Hidden);
            Attn($"{t}.attn2", c.Hidden, c.Hidden, c.Hidden);
            Lin($"{t}.ff.net.0.proj", c.Hidden, c.Intermediate * 2);
            Lin($"{t}.ff.net.2", c.Intermediate, c.Hidden);
        }

        Rms("project_from_hidden_norm", c.Hidden);
        Lin("project_from_hidden", c.Hidden, c.BlockChannels);
        Block("up_block", false, c.Upsample);
        s.Add(new("mlm_layer.conv1.weight", [c.InChannels, c.BlockChannels, 1, 1], WeightInit.FanIn(c.BlockChannels)));
        Rms("mlm_layer.layer_norm", c.InChannels);
        s.Add(new("mlm_layer.conv2.weight", [c.CodebookSize, c.InChannels, 1, 1], WeightInit.FanIn(c.InChannels)));
        return s;
    }

    /// <summary>Builds the graph for text sequences of <paramref name="textLength"/> tokens and an h×w grid of <paramref name="gridSide"/>.</summary>
    public static ModelProto Build(UVitConfig c, IReadOnlyDictionary<string, WeightTensor> weights, int textLength, int gridSide)
    {
        var g = new GraphBuilder("amused_uvit", weights);
        return Build(g, c, g.Input(InputIds, DataType.Int64, "batch", gridSide, gridSide), textLength, gridSide);
    }

    /// <summary>
    /// The graph with the base transformer stage's token contract: input <see cref="StageTokens"/> int64 [B, h·w] whose
    /// mask token is the codebook size K (models/README.md), mapped here to aMUSEd's mask id vocab_size − 1.
    /// </summary>
    public static ModelProto BuildForStage(UVitConfig c, IReadOnlyDictionary<string, WeightTensor> weights, int textLength, ExternalDataWriter? externalData = null)
    {
        var g = new GraphBuilder("amused_uvit", weights, externalData);
        var side = c.SampleSize;
        var tokens = g.Input(StageTokens, DataType.Int64, "batch", (long)side * side);
        var masked = g.Op("Equal", [tokens, g.Int64Initializer("stage_mask_id", [c.CodebookSize], [])]);
        var ids = g.Op("Where", [masked, g.Int64Initializer("amused_mask_id", [c.VocabSize - 1], []), tokens]);
        return Build(g, c, g.Reshape(ids, 0, side, side), textLength, side);
    }

    private static ModelProto Build(GraphBuilder g, UVitConfig c, string ids, int textLength, int gridSide)
    {
        var text = g.Input(EncoderHiddenStates, DataType.Float, "batch", textLength, c.EncoderHidden);
        var pooledText = g.Input(PooledTextEmb, DataType.Float, "batch", c.CondEmbedDim);
        var micro = g.Input(MicroConds, DataType.Float, "batch", UVitConfig.MicroConditions);

        var context = Rms(g, g.Linear(text, "encoder_proj", false), "encoder_proj_layer_norm", c.Eps);   // [B, L, H]

        // get_timestep_embedding(flip_sin_to_cos=True, shift 0): [cos(t·f), sin(t·f)] with f_i = exp(−ln(1e4)·i/half),
        // computed in float as the reference does.
        var half = c.MicroCondEncodeDim / 2;
        var frequencies = new float[half];
        var logPeriod = (float)-Math.Log(10000);
        for (var i = 0; i < half; i++)
        {
            frequencies[i] = MathF.Exp(logPeriod * i / half);
        }

        var angles = g.Mul(g.Unsqueeze(micro, 2), g.Initializer("micro_cond_frequencies", frequencies, [half]));   // [B, 5, half]
        var microEmb = g.Reshape(g.Concat(-1, g.Op("Cos", [angles]), g.Op("Sin", [angles])), 0, -1);            // [B, 5·E]
        var cond = g.Concat(1, pooledText, microEmb);
        cond = g.Linear(g.Silu(g.Linear(cond, "cond_embed.linear_1", false)), "cond_embed.linear_2", false);     // [B, H]
        var condSilu = g.Silu(cond);

        var h = Rms(g, g.Gather(g.Weight("embed.embeddings.weight"), ids), "embed.layer_norm", c.Eps);          // [B, h, w, in]
        h = g.Conv2d(g.Transpose(h, 0, 3, 1, 2), "embed.conv", 1, [0, 0, 0, 0], bias: false);                   // [B, C, h, w]
        h = UVitBlock(g, c, h, "down_block", condSilu, context, c.Downsample, false);

        var side = c.Downsample ? gridSide / 2 : gridSide;
        var x = g.Reshape(g.Transpose(h, 0, 2, 3, 1), 0, -1, c.BlockChannels);                                  // [B, N, C]
        x = g.Linear(Rms(g, x, "project_to_hidden_norm", c.Eps), "project_to_hidden", false);                   // [B, N, H]
        var headDim = c.Hidden / c.Heads;
        for (var i = 0; i < c.Layers; i++)
        {
            var t = $"transformer_layers.{i}";
            var n = AdaNorm(g, c, x, $"{t}.norm1", condSilu, rms: true);
            x = g.Add(x, Attention(g, n, n, $"{t}.attn1", c.Heads, headDim));
            n = AdaNorm(g, c, x, $"{t}.norm2", condSilu, rms: true);
            x = g.Add(x, Attention(g, n, context, $"{t}.attn2", c.Heads, headDim));
            n = AdaNorm(g, c, x, $"{t}.norm3", condSilu, rms: false);
            var projected = g.Linear(n, $"{t}.ff.net.0.proj", false);                                           // GEGLU
            var geglu = g.Mul(g.Slice(projected, -1, 0, c.Intermediate), g.Gelu(g.Slice(projected, -1, c.Intermediate, 2L * c.Intermediate)));
            x = g.Add(x, g.Linear(geglu, $"{t}.ff.net.2", false));
        }

        x = g.Linear(Rms(g, x, "project_from_hidden_norm", c.Eps), "project_from_hidden", false);               // [B, N, C]
        h = g.Transpose(g.Reshape(x, 0, side, side, c.BlockChannels), 0, 3, 1, 2);
        h = UVitBlock(g, c, h, "up_block", condSilu, context, false, c.Upsample);

        h = g.Conv2d(h, "mlm_layer.conv1", 1, [0, 0, 0, 0], bias: false);
        h = ChannelRms(g, h, "mlm_layer.layer_norm", c.Eps);
        var logits = g.Conv2d(h, "mlm_layer.conv2", 1, [0, 0, 0, 0], bias: false);                             // [B, K, h, w]
        logits = g.Transpose(g.Reshape(logits, 0, c.CodebookSize, -1), 0, 2, 1);                               // [B, N, K]
        g.Output(logits, Logits, DataType.Float, "batch", (long)gridSide * gridSide, c.CodebookSize);
        return g.Build();
    }

    private static string UVitBlock(GraphBuilder g, UVitConfig c, string x, string p, string condSilu, string context, bool down, bool up)
    {
        var ch = c.BlockChannels;
        if (down)
        {
            // Downsample2D(padding=0): RMSNorm over channels, pad bottom/right, 2×2 stride-2 convolution.
            x = g.Conv2d(ChannelRms(g, x, $"{p}.downsample.norm", c.Eps), $"{p}.downsample.conv", 2, [0, 0, 1, 1], bias: false);
        }

        var kv = c.Hidden != ch ? null : context;
        for (var i = 0; i < c.ResBlocks; i++)
        {
            x = ConvNext(g, c, x, $"{p}.res_blocks.{i}", condSilu);
            var a = $"{p}.attention_blocks.{i}";
            var mapped = kv ?? g.Linear(g.Silu(context), $"{a}.kv_mapper", false);
            var shape = g.Op("Shape", [x]);
            var tokens = g.Transpose(g.Reshape(x, 0, ch, -1), 0, 2, 1);                                          // [B, N, C]
            tokens = g.Add(tokens, Attention(g, Rms(g, tokens, $"{a}.norm1", BlockEps), mapped, $"{a}.attn1", c.BlockHeads, ch / c.BlockHeads));
            tokens = g.Add(tokens, Attention(g, Rms(g, tokens, $"{a}.norm2", BlockEps), mapped, $"{a}.attn2", c.BlockHeads, ch / c.BlockHeads));
            x = g.Op("Reshape", [g.Transpose(tokens, 0, 2, 1), shape]);
        }

        if (up)
        {
            x = ChannelRms(g, x, $"{p}.upsample.norm", c.Eps);
            x = g.Op("ConvTranspose", [x, g.Weight($"{p}.upsample.conv.weight")],
                Attr.Ints("kernel_shape", 2, 2), Attr.Ints("strides", 2, 2));
        }

        return x;
    }

    // ConvNextBlock: depthwise 3×3, RMSNorm, Linear ×4, GELU, GlobalResponseNorm, Linear, residual, then the pooled
    // conditioning's scale and shift.
    private static string ConvNext(GraphBuilder g, UVitConfig c, string x, string r, string condSilu)
    {
        var ch = c.BlockChannels;
        var h = g.Conv2d(x, $"{r}.depthwise", 1, [1, 1, 1, 1], bias: false, groups: ch);
        h = Rms(g, g.Transpose(h, 0, 2, 3, 1), $"{r}.norm", c.Eps);                                             // [B, h, w, C]
        h = g.Gelu(g.Linear(h, $"{r}.channelwise_linear_1", false));
        var gx = g.Op("Sqrt", [g.Op("ReduceSumSquare", [h], Attr.Ints("axes", 1, 2), Attr.Int("keepdims", 1))]);
        var nx = g.Op("Div", [gx, g.Add(g.Op("ReduceMean", [gx], Attr.Ints("axes", -1), Attr.Int("keepdims", 1)), g.Scalar((float)BlockEps))]);
        h = g.Add(g.Add(g.Mul(g.Weight($"{r}.channelwise_norm.gamma"), g.Mul(h, nx)), g.Weight($"{r}.channelwise_norm.beta")), h);
        h = g.Linear(h, $"{r}.channelwise_linear_2", false);
        h = g.Add(g.Transpose(h, 0, 3, 1, 2), x);
        var scaleShift = g.Unsqueeze(g.Linear(condSilu, $"{r}.cond_embeds_mapper", false), 2, 3);               // [B, 2C, 1, 1]
        var scale = g.Add(g.Slice(scaleShift, 1, 0, ch), g.Scalar(1f));
        return g.Add(g.Mul(h, scale), g.Slice(scaleShift, 1, ch, 2L * ch));
    }

    // AdaLayerNormContinuous: norm(x) · (1 + scale) + shift, (scale, shift) = Linear(silu(cond)).
    private static string AdaNorm(GraphBuilder g, UVitConfig c, string x, string p, string condSilu, bool rms)
    {
        var emb = g.Unsqueeze(g.Linear(condSilu, $"{p}.linear", false), 1);                                    // [B, 1, 2H]
        var normed = rms ? Rms(g, x, $"{p}.norm", c.Eps) : g.LayerNormNoBias(x, $"{p}.norm", c.Eps);
        var scale = g.Add(g.Slice(emb, -1, 0, c.Hidden), g.Scalar(1f));
        return g.Add(g.Mul(normed, scale), g.Slice(emb, -1, c.Hidden, 2L * c.Hidden));
    }

    private static string Attention(GraphBuilder g, string query, string context, string p, int heads, int headDim) =>
        ClipTextGraph.Attention(g, query, context, $"{p}.to_q", $"{p}.to_k", $"{p}.to_v", $"{p}.to_out.0", heads, headDim, bias: false);

    // diffusers' RMSNorm: x · rsqrt(mean(x²) + eps) · w over the last axis.
    private static string Rms(GraphBuilder g, string x, string p, double eps)
    {
        var meanSquare = g.Op("ReduceMean", [g.Mul(x, x)], Attr.Ints("axes", -1), Attr.Int("keepdims", 1));
        var inverse = g.Op("Reciprocal", [g.Op("Sqrt", [g.Add(meanSquare, g.Scalar((float)eps))])]);
        return g.Mul(g.Mul(x, inverse), g.Weight($"{p}.weight"));
    }

    // RMSNorm over the channels of [B, C, h, w].
    private static string ChannelRms(GraphBuilder g, string x, string p, double eps) =>
        g.Transpose(Rms(g, g.Transpose(x, 0, 2, 3, 1), p, eps), 0, 3, 1, 2);
}
