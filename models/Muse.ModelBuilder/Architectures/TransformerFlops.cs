namespace Muse.ModelBuilder.Architectures;

/// <summary>
/// Floating-point operations of one masked-transformer pass, counted from the architecture (a multiply-add is 2):
/// every matrix product of <see cref="MaskedTransformerGraph"/>. Norms, softmax, GELU, embeddings and adds are left
/// out — together under 1 % of a full-size pass — so achieved FLOP/s divided by a GEMM peak is a fair utilisation.
/// </summary>
public static class TransformerFlops
{
    /// <summary>FLOPs of one sequence (one row of the batch) through <paramref name="config"/>.</summary>
    public static double PerSequence(TransformerConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        double n = config.GridTokens;
        double d = config.DModel;
        double context = config.TextMaxLength + config.LowResTokens;   // keys of the cross-attention
        var textProjection = 2 * config.TextMaxLength * (double)config.TextDim * d;
        var selfAttention = (8 * n * d * d) + (4 * n * n * d);            // q, k, v, o; scores and weighted values
        var crossAttention = (4 * n * d * d) + (4 * context * d * d) + (4 * n * context * d);
        var mlp = 4 * n * d * config.MlpDim;
        var logits = 2 * n * d * config.CodebookSize;
        return textProjection + (config.NumLayers * (selfAttention + crossAttention + mlp)) + logits;
    }

    /// <summary>Parameters of <paramref name="config"/> (all weights, embeddings included).</summary>
    public static long Parameters(ArchitectureConfig config) =>
        WeightSpec.For(config).Sum(spec => Weights.WeightTensor.ElementCountOf(spec.Shape));
}
