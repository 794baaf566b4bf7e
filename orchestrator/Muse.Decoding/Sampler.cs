namespace Muse.Decoding;

/// <summary>
/// Categorical sampling of masked tokens from (guided) logits, run on a transformer replica. Each masked
/// position draws one uniform <c>U(seed, stage, step, position, Sample)</c> and inverts the CDF of
/// softmax(logits / SamplingTemperature), so a sample costs O(K) and depends on nothing but its coordinates:
/// batching, replica and retries cannot change it. Stateless and thread-safe.
/// </summary>
public static class Sampler
{
    /// <summary>
    /// Samples every masked position of one image.
    /// </summary>
    /// <param name="logits">[N, K] row-major logits over the codebook (the mask token is never predicted). Not modified.</param>
    /// <param name="tokens">[N] current tokens; positions holding <paramref name="maskTokenId"/> are sampled.</param>
    /// <param name="maskTokenId">The mask token id (K for Muse models).</param>
    /// <param name="samplingTemperature">
    /// T ≥ 0: 1 = the model's distribution, larger = more diverse, 0 = greedy (argmax, lowest index on ties).
    /// </param>
    /// <param name="seed">This image's seed.</param>
    /// <param name="stage">The decoding stage (part of the noise identity).</param>
    /// <param name="step">The 0-based step t (part of the noise identity).</param>
    /// <param name="sampledTokens">[N] out: the sampled token at masked positions, the input token elsewhere.</param>
    /// <param name="confidence">
    /// [N] out: at masked positions the probability of the sampled token under softmax(logits / T), or, for
    /// T = 0, under softmax(logits): the greedy limit would give every position 1 and leave re-masking
    /// nothing to rank by. At unmasked positions 1, or with <paramref name="committedConfidence"/> the probability
    /// of the token there under the same distribution (what re-competition ranks committed tokens by).
    /// </param>
    /// <param name="committedConfidence">Score the tokens at unmasked positions too (see <see cref="DecodeOptions.Recompete"/>).</param>
    /// <exception cref="ArgumentException">
    /// Shapes disagree, a scored position's logits are not finite, or a scored unmasked token is outside the codebook.
    /// </exception>
    public static void SampleInto(
        ReadOnlySpan<float> logits,
        ReadOnlySpan<int> tokens,
        int maskTokenId,
        float samplingTemperature,
        ulong seed,
        DecodeStage stage,
        int step,
        Span<int> sampledTokens,
        Span<float> confidence,
        bool committedConfidence = false)
    {
        if (!(samplingTemperature >= 0 && float.IsFinite(samplingTemperature)))
        {
            throw new ArgumentOutOfRangeException(nameof(samplingTemperature), samplingTemperature, "Must be finite and ≥ 0.");
        }

        var length = tokens.Length;
        if (length == 0 || logits.Length % length != 0 || logits.Length == 0)
        {
            throw new ArgumentException($"Logits of length {logits.Length} are not [N = {length}, K].", nameof(logits));
        }

        if (sampledTokens.Length != length || confidence.Length != length)
        {
            throw new ArgumentException($"Outputs must have N = {length} entries.", nameof(sampledTokens));
        }

        var codebookSize = logits.Length / length;
        // The greedy limit of softmax(l / T) is one-hot, so at T = 0 tokens are scored by softmax(l), as sampled ones are.
        var inverseTemperature = samplingTemperature == 0 ? 1.0 : 1.0 / samplingTemperature;
        for (var position = 0; position < length; position++)
        {
            var row = logits.Slice(position * codebookSize, codebookSize);     // [K]
            if (tokens[position] != maskTokenId)
            {
                sampledTokens[position] = tokens[position];
                confidence[position] = committedConfidence ? (float)Probability(row, tokens[position], inverseTemperature, position) : 1f;
                continue;
            }

            int token;
            double probability;
            if (samplingTemperature == 0)
            {
                token = ArgMax(row);
                probability = 1.0 / SumExp(row, row[token], 1.0, position);
            }
            else
            {
                var u = CounterRng.Uniform(seed, stage, step, position, RngPurpose.Sample);
                (token, probability) = InverseCdf(row, inverseTemperature, u, position);
            }

            sampledTokens[position] = token;
            confidence[position] = (float)probability;
        }
    }

    /// <summary>
    /// Samples a batch: row b of every tensor with <c>seeds[b]</c>, exactly as <see cref="SampleInto"/> would
    /// one image at a time (so batching cannot change a result).
    /// </summary>
    /// <param name="logits">[batch, N, K] row-major.</param>
    /// <param name="tokens">[batch, N].</param>
    /// <param name="maskTokenId">The mask token id.</param>
    /// <param name="samplingTemperature">T ≥ 0; 0 = greedy.</param>
    /// <param name="seeds">[batch] one seed per image.</param>
    /// <param name="stage">The decoding stage.</param>
    /// <param name="step">The 0-based step t.</param>
    /// <param name="sampledTokens">[batch, N] out.</param>
    /// <param name="confidence">[batch, N] out.</param>
    /// <param name="committedConfidence">Score the tokens at unmasked positions too.</param>
    public static void SampleBatchInto(
        ReadOnlySpan<float> logits,
        ReadOnlySpan<int> tokens,
        int maskTokenId,
        float samplingTemperature,
        ReadOnlySpan<ulong> seeds,
        DecodeStage stage,
        int step,
        Span<int> sampledTokens,
        Span<float> confidence,
        bool committedConfidence = false)
    {
        var batch = seeds.Length;
        if (batch == 0 || tokens.Length % batch != 0 || logits.Length % batch != 0)
        {
            throw new ArgumentException($"Tokens ({tokens.Length}) and logits ({logits.Length}) do not split into {batch} images.", nameof(seeds));
        }

        if (sampledTokens.Length != tokens.Length || confidence.Length != tokens.Length)
        {
            throw new ArgumentException($"Outputs must have {tokens.Length} entries.", nameof(sampledTokens));
        }

        var length = tokens.Length / batch;
        var rowLogits = logits.Length / batch;
        for (var b = 0; b < batch; b++)
        {
            SampleInto(
                logits.Slice(b * rowLogits, rowLogits),
                tokens.Slice(b * length, length),
                maskTokenId,
                samplingTemperature,
                seeds[b],
                stage,
                step,
                sampledTokens.Slice(b * length, length),
                confidence.Slice(b * length, length),
                committedConfidence);
        }
    }

    private static int ArgMax(ReadOnlySpan<float> row)
    {
        var best = 0;
        for (var k = 1; k < row.Length; k++)
        {
            // Strictly greater: the lowest index wins a tie.
            if (row[k] > row[best])
            {
                best = k;
            }
        }

        return best;
    }

    // Σ exp((l − max) / T) in double; subtracting the max keeps every term in (0, 1].
    private static double SumExp(ReadOnlySpan<float> logits, float max, double inverseTemperature, int position)
    {
        var sum = 0.0;
        foreach (var logit in logits)
        {
            sum += Math.Exp((logit - (double)max) * inverseTemperature);
        }

        if (!(sum >= 1 && double.IsFinite(sum)))
        {
            throw new ArgumentException($"Logits at position {position} are not finite.", nameof(logits));
        }

        return sum;
    }

    // softmax(row / T)[token], with the terms of SumExp, so a token scores what it would have had when sampled.
    private static double Probability(ReadOnlySpan<float> row, int token, double inverseTemperature, int position)
    {
        if ((uint)token >= (uint)row.Length)
        {
            throw new ArgumentException($"Token {token} at position {position} is outside the codebook of {row.Length}.", nameof(row));
        }

        var max = row[ArgMax(row)];
        return Math.Exp((row[token] - (double)max) * inverseTemperature) / SumExp(row, max, inverseTemperature, position);
    }

    private static (int Token, double Probability) InverseCdf(ReadOnlySpan<float> row, double inverseTemperature, double u, int position)
    {
        var max = row[ArgMax(row)];
        var sum = SumExp(row, max, inverseTemperature, position);
        var target = u * sum;
        var cumulative = 0.0;
        var last = 0;
        var lastWeight = 0.0;
        for (var k = 0; k < row.Length; k++)
        {
            // The same terms in the same order as SumExp, so the running sum ends at exactly `sum`.
            var weight = Math.Exp((row[k] - (double)max) * inverseTemperature);
            if (weight == 0)
            {
                continue;
            }

            cumulative += weight;
            if (target < cumulative)
            {
                return (k, weight / sum);
            }

            (last, lastWeight) = (k, weight);
        }

        // u·sum rounded up to sum: the draw belongs to the last token with any mass.
        return (last, lastWeight / sum);
    }
}
