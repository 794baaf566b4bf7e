using Muse.ModelBuilder.Architectures;
using Muse.ModelBuilder.Graphs;
using Muse.ModelBuilder.Weights;
using Onnx;
using DataType = Onnx.TensorProto.Types.DataType;

namespace Muse.ModelBuilder.Amused;

/// <summary>
/// aMUSEd's VQ-GAN (diffusers <c>VQModel</c>, weight names as in <c>vqvae/diffusion_pytorch_model.safetensors</c>) with
/// the image tokenizer stage's contract (<see cref="VqganGraphs.Image"/>, <see cref="VqganGraphs.Tokens"/>):
/// encoder pixels [-1, 1] [B, 3, H, W] → quant_conv → nearest codebook entry → int64 tokens [B, H/f, W/f];
/// decoder tokens → codebook lookup (<c>lookup_from_codebook</c>) → post_quant_conv → pixels (not clamped).
/// </summary>
public static class AmusedVqGraphs
{
    private const string Codebook = "quantize.embedding.weight";

    /// <summary>Every tensor of the VQ-GAN's safetensors, with its shape.</summary>
    public static IReadOnlyList<WeightSpec> WeightSpecs(AmusedVqConfig c)
    {
        var ch = c.Channels;
        var specs = new List<WeightSpec>();
        specs.AddConv("encoder.conv_in", 3, ch[0], 3);
        for (var i = 0; i < ch.Length; i++)
        {
            var input = i == 0 ? ch[0] : ch[i - 1];
            for (var j = 0; j < c.LayersPerBlock; j++)
            {
                specs.AddResBlock($"encoder.down_blocks.{i}.resnets.{j}", j == 0 ? input : ch[i], ch[i], "conv_shortcut");
            }

            if (i < ch.Length - 1)
            {
                specs.AddConv($"encoder.down_blocks.{i}.downsamplers.0.conv", ch[i], ch[i], 3);
            }
        }

        Mid(specs, "encoder.mid_block", ch[^1]);
        specs.AddNorm("encoder.conv_norm_out", ch[^1]);
        specs.AddConv("encoder.conv_out", ch[^1], c.LatentChannels, 3);
        specs.AddConv("quant_conv", c.LatentChannels, c.EmbedDim, 1);
        specs.Add(new(Codebook, [c.CodebookSize, c.EmbedDim], WeightInit.Normal(0.5)));
        specs.AddConv("post_quant_conv", c.EmbedDim, c.LatentChannels, 1);
        specs.AddConv("decoder.conv_in", c.LatentChannels, ch[^1], 3);
        Mid(specs, "decoder.mid_block", ch[^1]);
        var output = ch[^1];
        for (var i = 0; i < ch.Length; i++)
        {
            var previous = output;
            output = ch[ch.Length - 1 - i];
            for (var j = 0; j <= c.LayersPerBlock; j++)
            {
                specs.AddResBlock($"decoder.up_blocks.{i}.resnets.{j}", j == 0 ? previous : output, output, "conv_shortcut");
            }

            if (i < ch.Length - 1)
            {
                specs.AddConv($"decoder.up_blocks.{i}.upsamplers.0.conv", output, output, 3);
            }
        }

        specs.AddNorm("decoder.conv_norm_out", ch[0]);
        specs.AddConv("decoder.conv_out", ch[0], 3, 3);
        return specs;
    }

    /// <summary>The encoder graph: pixels → tokens (and, with <paramref name="includeLatent"/>, the quant_conv output).</summary>
    public static ModelProto BuildEncoder(AmusedVqConfig c, IReadOnlyDictionary<string, WeightTensor> weights, bool includeLatent = false, ExternalDataWriter? externalData = null)
    {
        var ch = c.Channels;
        var g = new GraphBuilder("amused_vq_encoder", weights, externalData);
        var image = g.Input(VqganGraphs.Image, DataType.Float, "batch", 3, "height", "width");
        var h = g.Conv2d(image, "encoder.conv_in", 1, 1);
        for (var i = 0; i < ch.Length; i++)
        {
            var input = i == 0 ? ch[0] : ch[i - 1];
            for (var j = 0; j < c.LayersPerBlock; j++)
            {
                h = g.ResBlock(h, $"encoder.down_blocks.{i}.resnets.{j}", j == 0 ? input : ch[i], ch[i], c.Groups, AmusedVqConfig.Eps, "conv_shortcut");
            }

            if (i < ch.Length - 1)
            {
                // diffusers pads bottom and right by one, then convolves 3×3 with stride 2 and no padding.
                h = g.Conv2d(h, $"encoder.down_blocks.{i}.downsamplers.0.conv", 2, [0, 0, 1, 1], bias: true);
            }
        }

        h = MidBlock(g, h, "encoder.mid_block", ch[^1], c.Groups);
        h = g.Silu(g.GroupNorm(h, "encoder.conv_norm_out", c.Groups, AmusedVqConfig.Eps));
        h = g.Conv2d(h, "encoder.conv_out", 1, 1);
        var z = g.Conv2d(h, "quant_conv", 1, 0);                                                   // [B, E, h, w]

        // argmin_k ‖z − e_k‖² = argmin_k (‖e_k‖² − 2 z·e_k), first index on ties.
        var zLast = g.Transpose(z, 0, 2, 3, 1);
        var dots = g.MatMul(zLast, g.Transpose(g.Weight(Codebook), 1, 0));                          // [B, h, w, K]
        var norms = g.Initializer("quantize.embedding.norms", VqganGraphs.SquaredNorms(weights[Codebook]), [c.CodebookSize]);
        var tokens = g.Op("ArgMin", [g.Add(g.Mul(dots, -2f), norms)], Attr.Int("axis", -1), Attr.Int("keepdims", 0), Attr.Int("select_last_index", 0));
        g.Output(tokens, VqganGraphs.Tokens, DataType.Int64, "batch", "token_height", "token_width");
        if (includeLatent)
        {
            g.Output(z, VqganGraphs.Latent, DataType.Float, "batch", c.EmbedDim, "token_height", "token_width");
        }

        return g.Build();
    }

    /// <summary>The decoder graph: tokens → pixels.</summary>
    public static ModelProto BuildDecoder(AmusedVqConfig c, IReadOnlyDictionary<string, WeightTensor> weights, ExternalDataWriter? externalData = null)
    {
        var ch = c.Channels;
        var g = new GraphBuilder("amused_vq_decoder", weights, externalData);
        var tokens = g.Input(VqganGraphs.Tokens, DataType.Int64, "batch", "token_height", "token_width");
        var codes = g.Transpose(g.Gather(g.Weight(Codebook), tokens), 0, 3, 1, 2);                 // [B, E, h, w]
        var h = g.Conv2d(g.Conv2d(codes, "post_quant_conv", 1, 0), "decoder.conv_in", 1, 1);
        h = MidBlock(g, h, "decoder.mid_block", ch[^1], c.Groups);
        var output = ch[^1];
        for (var i = 0; i < ch.Length; i++)
        {
            var previous = output;
            output = ch[ch.Length - 1 - i];
            for (var j = 0; j <= c.LayersPerBlock; j++)
            {
                h = g.ResBlock(h, $"decoder.up_blocks.{i}.resnets.{j}", j == 0 ? previous : output, output, c.Groups, AmusedVqConfig.Eps, "conv_shortcut");
            }

            if (i < ch.Length - 1)
            {
                h = g.Conv2d(g.UpsampleNearest2x(h), $"decoder.up_blocks.{i}.upsamplers.0.conv", 1, 1);
            }
        }

        h = g.Silu(g.GroupNorm(h, "decoder.conv_norm_out", c.Groups, AmusedVqConfig.Eps));
        var image = g.Conv2d(h, "decoder.conv_out", 1, 1);
        g.Output(image, VqganGraphs.Image, DataType.Float, "batch", 3, "height", "width");
        return g.Build();
    }

    // UNetMidBlock2D without attention: two ResNet blocks.
    private static string MidBlock(GraphBuilder g, string x, string prefix, int channels, int groups)
    {
        x = g.ResBlock(x, $"{prefix}.resnets.0", channels, channels, groups, AmusedVqConfig.Eps, "conv_shortcut");
        return g.ResBlock(x, $"{prefix}.resnets.1", channels, channels, groups, AmusedVqConfig.Eps, "conv_shortcut");
    }

    private static void Mid(List<WeightSpec> specs, string prefix, int channels)
    {
        specs.AddResBlock($"{prefix}.resnets.0", channels, channels, "conv_shortcut");
        specs.AddResBlock($"{prefix}.resnets.1", channels, channels, "conv_shortcut");
    }
}
