using Muse.ModelBuilder.Graphs;
using Muse.ModelBuilder.Weights;
using Onnx;
using DataType = Onnx.TensorProto.Types.DataType;

namespace Muse.ModelBuilder.Architectures;

/// <summary>
/// T5 v1.1-style text encoder (models/README.md): inputs <c>input_ids</c>, <c>attention_mask</c> int64 [B, L];
/// output <c>last_hidden_state</c> float [B, L, D].
/// </summary>
public static class T5EncoderGraph
{
    /// <summary>ONNX input: SentencePiece ids, int64 [B, L].</summary>
    public const string InputIds = "input_ids";

    /// <summary>ONNX input: 1 for tokens, 0 for padding, int64 [B, L].</summary>
    public const string AttentionMask = "attention_mask";

    /// <summary>ONNX output: float [B, L, D].</summary>
    public const string LastHiddenState = "last_hidden_state";

    /// <summary>The weights of <paramref name="config"/>, with fixture initialisation.</summary>
    public static IReadOnlyList<WeightSpec> WeightSpecs(T5Config config)
    {
        long d = config.DModel;
        long f = config.DFf;
        var specs = new List<WeightSpec>
        {
            new("shared.weight", [config.VocabSize, d], WeightInit.Normal(1.0)),
        };
        for (var i = 0; i < config.NumLayers; i++)
        {
            var attention = $"encoder.block.{i}.layer.0";
            specs.Add(new($"{attention}.layer_norm.weight", [d], WeightInit.Ones));

            // T5 leaves the scores unscaled; a 1/√(D·dKv) query init keeps the softmax from saturating.
            specs.Add(new($"{attention}.SelfAttention.q.weight", [d, d], WeightInit.Normal(1.0 / Math.Sqrt(d * config.DKv))));
            specs.Add(new($"{attention}.SelfAttention.k.weight", [d, d], WeightInit.FanIn(d)));
            specs.Add(new($"{attention}.SelfAttention.v.weight", [d, d], WeightInit.FanIn(d)));
            specs.Add(new($"{attention}.SelfAttention.o.weight", [d, d], WeightInit.FanIn(d)));
            if (i == 0)
            {
                specs.Add(new($"{attention}.SelfAttention.relative_attention_bias.weight", [config.NumBuckets, config.NumHeads], WeightInit.Normal(0.5)));
            }

            var feedForward = $"encoder.block.{i}.layer.1";
            specs.Add(new($"{feedForward}.layer_norm.weight", [d], WeightInit.Ones));
            specs.Add(new($"{feedForward}.DenseReluDense.wi_0.weight", [f, d], WeightInit.FanIn(d)));
            specs.Add(new($"{feedForward}.DenseReluDense.wi_1.weight", [f, d], WeightInit.FanIn(d)));
            specs.Add(new($"{feedForward}.DenseReluDense.wo.weight", [d, f], WeightInit.FanIn(f)));
        }

        specs.Add(new("encoder.final_layer_norm.weight", [d], WeightInit.Ones));
        return specs;
    }

    /// <summary>Builds the encoder graph from validated <paramref name="weights"/>.</summary>
    public static ModelProto Build(T5Config config, IReadOnlyDictionary<string, WeightTensor> weights, ExternalDataWriter? externalData = null)
    {
        config.Validate();
        WeightSpec.Validate(WeightSpecs(config), weights);
        var g = new GraphBuilder("t5_encoder", weights, externalData);
        var length = config.MaxLength;
        var ids = g.Input(InputIds, DataType.Int64, "batch", length);
        var mask = g.Input(AttentionMask, DataType.Int64, "batch", length);

        var x = g.Gather(g.Weight("shared.weight"), ids);                                  // [B, L, D]
        var keyBias = g.KeyMaskBias(g.Cast(mask, DataType.Float));                         // [B, 1, 1, L]
        var positionBias = PositionBias(g, config);                                         // [1, H, L, L]

        for (var i = 0; i < config.NumLayers; i++)
        {
            var attention = $"encoder.block.{i}.layer.0";
            var h = g.RmsNorm(x, $"{attention}.layer_norm", config.Eps);
            x = g.Add(x, g.MultiHeadAttention(h, h, $"{attention}.SelfAttention", config.NumHeads, bias: false, scale: 1.0, positionBias, keyBias));

            var feedForward = $"encoder.block.{i}.layer.1";
            h = g.RmsNorm(x, $"{feedForward}.layer_norm", config.Eps);
            var gate = g.Gelu(g.Linear(h, $"{feedForward}.DenseReluDense.wi_0", bias: false));   // [B, L, F]
            var up = g.Linear(h, $"{feedForward}.DenseReluDense.wi_1", bias: false);             // [B, L, F]
            x = g.Add(x, g.Linear(g.Mul(gate, up), $"{feedForward}.DenseReluDense.wo", bias: false));
        }

        var output = g.RmsNorm(x, "encoder.final_layer_norm", config.Eps);
        g.Output(output, LastHiddenState, DataType.Float, "batch", length, config.DModel);
        return g.Build(new Dictionary<string, string> { ["muse.architecture"] = config.ToJson() });
    }

    /// <summary>
    /// T5's bidirectional relative-position bucket of <c>relativePosition = key − query</c>: half the buckets for
    /// keys after the query, the first half of each side exact, the rest logarithmic up to <paramref name="maxDistance"/>.
    /// </summary>
    public static int RelativePositionBucket(int relativePosition, int numBuckets, int maxDistance)
    {
        var half = numBuckets / 2;
        var bucket = relativePosition > 0 ? half : 0;
        var n = Math.Abs(relativePosition);
        var exact = half / 2;
        if (n < exact)
        {
            return bucket + n;
        }

        var large = exact + (int)Math.Floor(Math.Log((double)n / exact) / Math.Log((double)maxDistance / exact) * (half - exact));
        return bucket + Math.Min(half - 1, large);
    }

    /// <summary>The [L, L] bucket table: <c>table[i, j] = bucket(j − i)</c>.</summary>
    public static long[] BucketTable(T5Config config)
    {
        var length = config.MaxLength;
        var table = new long[length * length];
        for (var i = 0; i < length; i++)
        {
            for (var j = 0; j < length; j++)
            {
                table[(i * length) + j] = RelativePositionBucket(j - i, config.NumBuckets, config.MaxDistance);
            }
        }

        return table;
    }

    // bias[h, i, j] = relative_attention_bias[bucket(j − i), h]; L is fixed, so the bucket table is a constant.
    private static string PositionBias(GraphBuilder g, T5Config config)
    {
        var length = config.MaxLength;
        var buckets = g.Int64Initializer("relative_position_buckets", BucketTable(config), [length, length]);
        var table = g.Weight("encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight");   // [buckets, H]
        var bias = g.Gather(table, buckets);                                                             // [L, L, H]
        return g.Unsqueeze(g.Transpose(bias, 2, 0, 1), 0);                                               // [1, H, L, L]
    }
}
