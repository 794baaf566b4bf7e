using Muse.ModelBuilder.Graphs;
using Muse.ModelBuilder.Weights;
using Onnx;
using DataType = Onnx.TensorProto.Types.DataType;

namespace Muse.ModelBuilder.Architectures;

/// <summary>
/// VQGAN encoder and decoder (models/README.md). Spatial axes are dynamic, so one model serves every image
/// size that is a multiple of <see cref="VqganConfig.DownsampleFactor"/> f (8 or 16).
/// Encoder: <c>image</c> float [B, 3, H, W] in [-1, 1] → <c>tokens</c> int64 [B, H/f, W/f].
/// Decoder: <c>tokens</c> int64 [B, h, w] → <c>image</c> float [B, 3, f·h, f·w] (not clamped; the host clamps).
/// </summary>
public static class VqganGraphs
{
    /// <summary>ONNX name of the pixels: encoder input, decoder output.</summary>
    public const string Image = "image";

    /// <summary>ONNX name of the token grid: encoder output, decoder input.</summary>
    public const string Tokens = "tokens";

    /// <summary>Optional encoder output: the pre-quantisation latent float [B, E, h, w] (tests, tools).</summary>
    public const string Latent = "z";

    /// <summary>The weights of <paramref name="config"/> (encoder, quantizer, decoder), with fixture initialisation.</summary>
    public static IReadOnlyList<WeightSpec> WeightSpecs(VqganConfig config)
    {
        var c = config.Channels;
        var specs = new List<WeightSpec>();
        if (config.PatchDim is { } p)
        {
            specs.AddConv("encoder.patch_embed", 3, p, config.DownsampleFactor);
            specs.AddConv("encoder.patch_hidden", p, p, 1);
            specs.AddConv("encoder.conv_out", p, config.EmbedDim, 1);
        }
        else
        {
            specs.AddConv("encoder.conv_in", 3, c[0], 3);
            for (var i = 0; i < config.Stages; i++)
            {
                specs.AddResBlock($"encoder.down.{i}.block", c[i], c[i + 1], "nin_shortcut");
                specs.AddConv($"encoder.down.{i}.downsample.conv", c[i + 1], c[i + 1], 3);
            }

            specs.AddResBlock("encoder.mid.block", c[^1], c[^1], "nin_shortcut");
            specs.AddNorm("encoder.norm_out", c[^1]);
            specs.AddConv("encoder.conv_out", c[^1], config.EmbedDim, 1);
        }

        // Codebook entries on the scale of the encoder's latents, so random images use many of them.
        specs.Add(new("quantize.embedding.weight", [config.CodebookSize, config.EmbedDim], WeightInit.Normal(0.5)));

        specs.AddConv("decoder.conv_in", config.EmbedDim, c[^1], 3);
        specs.AddResBlock("decoder.mid.block", c[^1], c[^1], "nin_shortcut");
        for (var i = config.Stages - 1; i >= 0; i--)
        {
            specs.AddConv($"decoder.up.{i}.upsample.conv", c[i + 1], c[i + 1], 3);
            specs.AddResBlock($"decoder.up.{i}.block", c[i + 1], c[i], "nin_shortcut");
        }

        specs.AddNorm("decoder.norm_out", c[0]);
        specs.AddConv("decoder.conv_out", c[0], 3, 3);
        return specs;
    }

    /// <summary>Builds the encoder graph; with <paramref name="includeLatent"/> it also outputs <see cref="Latent"/>.</summary>
    public static ModelProto BuildEncoder(VqganConfig config, IReadOnlyDictionary<string, WeightTensor> weights, bool includeLatent = false, ExternalDataWriter? externalData = null)
    {
        config.Validate();
        WeightSpec.Validate(WeightSpecs(config), weights);
        var c = config.Channels;
        var g = new GraphBuilder("vqgan_encoder", weights, externalData);
        var image = g.Input(Image, DataType.Float, "batch", 3, "height", "width");

        string h;
        if (config.PatchDim is not null)
        {
            // Patch encoder: each token from its own 8×8 pixels alone.
            h = g.Silu(g.Conv2d(image, "encoder.patch_embed", config.DownsampleFactor, 0));   // [B, P, H/8, W/8]
            h = g.Silu(g.Conv2d(h, "encoder.patch_hidden", 1, 0));                                  // [B, P, h, w]
        }
        else
        {
            h = g.Conv2d(image, "encoder.conv_in", 1, 1);                                    // [B, c0, H, W]
            for (var i = 0; i < config.Stages; i++)
            {
                h = g.ResBlock(h, $"encoder.down.{i}.block", c[i], c[i + 1], config.Groups, config.Eps);
                h = g.Conv2d(h, $"encoder.down.{i}.downsample.conv", 2, 1);                    // [B, c_{i+1}, H/2^(i+1), W/2^(i+1)]
            }

            h = g.ResBlock(h, "encoder.mid.block", c[^1], c[^1], config.Groups, config.Eps);
            h = g.Silu(g.GroupNorm(h, "encoder.norm_out", config.Groups, config.Eps));
        }

        var z = g.Conv2d(h, "encoder.conv_out", 1, 0);                                       // [B, E, h, w]

        // argmin_k ‖z − e_k‖² = argmin_k (‖e_k‖² − 2 z·e_k): ‖z‖² is the same for every k, and leaving it out
        // avoids adding a large common term that would only cost precision. ArgMin keeps the first index on ties.
        var codebook = g.Weight("quantize.embedding.weight");                                 // [K, E]
        var zLast = g.Transpose(z, 0, 2, 3, 1);                                              // [B, h, w, E]
        var dots = g.MatMul(zLast, g.Transpose(codebook, 1, 0));                             // [B, h, w, K]
        var codebookNorms = g.Initializer("quantize.embedding.norms", SquaredNorms(weights["quantize.embedding.weight"]), [config.CodebookSize]);
        var distances = g.Add(g.Mul(dots, -2f), codebookNorms);                              // [B, h, w, K]
        var tokens = g.Op("ArgMin", [distances], Attr.Int("axis", -1), Attr.Int("keepdims", 0), Attr.Int("select_last_index", 0));

        g.Output(tokens, Tokens, DataType.Int64, "batch", "token_height", "token_width");
        if (includeLatent)
        {
            g.Output(z, Latent, DataType.Float, "batch", config.EmbedDim, "token_height", "token_width");
        }

        return g.Build(new Dictionary<string, string> { ["muse.architecture"] = config.ToJson() });
    }

    /// <summary>Builds the decoder graph.</summary>
    public static ModelProto BuildDecoder(VqganConfig config, IReadOnlyDictionary<string, WeightTensor> weights, ExternalDataWriter? externalData = null)
    {
        config.Validate();
        WeightSpec.Validate(WeightSpecs(config), weights);
        var c = config.Channels;
        var g = new GraphBuilder("vqgan_decoder", weights, externalData);
        var tokens = g.Input(Tokens, DataType.Int64, "batch", "token_height", "token_width");

        var codes = g.Gather(g.Weight("quantize.embedding.weight"), tokens);                // [B, h, w, E]
        var h = g.Conv2d(g.Transpose(codes, 0, 3, 1, 2), "decoder.conv_in", 1, 1);          // [B, c3, h, w]
        h = g.ResBlock(h, "decoder.mid.block", c[^1], c[^1], config.Groups, config.Eps);
        for (var i = config.Stages - 1; i >= 0; i--)
        {
            h = g.UpsampleNearest2x(h);
            h = g.Conv2d(h, $"decoder.up.{i}.upsample.conv", 1, 1);
            h = g.ResBlock(h, $"decoder.up.{i}.block", c[i + 1], c[i], config.Groups, config.Eps);   // [B, c_i, ·2, ·2]
        }

        h = g.Silu(g.GroupNorm(h, "decoder.norm_out", config.Groups, config.Eps));
        var image = g.Conv2d(h, "decoder.conv_out", 1, 1);                                   // [B, 3, 8h, 8w]

        g.Output(image, Image, DataType.Float, "batch", 3, "height", "width");
        return g.Build(new Dictionary<string, string> { ["muse.architecture"] = config.ToJson() });
    }

    // ‖e_k‖² of every codebook row [K, E], accumulated in double (also aMUSEd's VQ-GAN).
    internal static float[] SquaredNorms(WeightTensor codebook)
    {
        var (entries, width) = ((int)codebook.Shape[0], (int)codebook.Shape[1]);
        var norms = new float[entries];
        var data = codebook.Floats;   // read once: a lazy tensor makes its data on every read
        for (var k = 0; k < entries; k++)
        {
            var sum = 0.0;
            foreach (var value in data.AsSpan(k * width, width))
            {
                sum += (double)value * value;
            }

            norms[k] = (float)sum;
        }

        return norms;
    }
}
