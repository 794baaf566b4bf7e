namespace Muse.Decoding;

/// <summary>
/// One step of a transformer replica, as the decoding loop sees it: given the current tokens of a batch, return
/// a sampled token and its confidence at every masked position and, when asked, the confidence of the committed
/// token at every other position. The orchestrator implements it over a
/// <c>TokenTransformer.Decode</c> stream; the conditioning (text embeddings, low-res tokens, seeds, stage) is
/// the implementation's, sent when the stream opens.
/// </summary>
public interface ITokenSampler
{
    /// <summary>Samples step <paramref name="step"/> of <paramref name="steps"/> for every image of the batch.</summary>
    /// <param name="states">The batch, in the order of the stream's seeds; read only (do not modify).</param>
    /// <param name="step">0-based step t.</param>
    /// <param name="steps">Total steps T.</param>
    /// <param name="guidanceScale">Guidance scale for this step (already taken from the guidance schedule).</param>
    /// <param name="samplingTemperature">Categorical sampling temperature; 0 = greedy.</param>
    /// <param name="committedConfidence">
    /// Also score the tokens at unmasked positions (<see cref="DecodeOptions.Recompete"/>): their probability under
    /// the same distribution the masked ones are sampled from, instead of 1.
    /// </param>
    /// <param name="ct">Cancels the step.</param>
    /// <returns>[batch, N] tokens and confidences (see <see cref="SampledTokens"/>).</returns>
    ValueTask<SampledTokens> SampleAsync(
        IReadOnlyList<TokenState> states,
        int step,
        int steps,
        float guidanceScale,
        float samplingTemperature,
        bool committedConfidence,
        CancellationToken ct);
}

/// <summary>
/// A replica's answer to one step, flat [batch, N] row-major like the <c>DecodeReply</c> tensors: image b
/// occupies elements [b·N, (b+1)·N). The instance takes ownership of the arrays it is given.
/// </summary>
public sealed class SampledTokens
{
    /// <summary>Wraps [batch, N] arrays of equal length.</summary>
    /// <param name="batch">Images B ≥ 1.</param>
    /// <param name="tokens">[batch, N] sampled tokens at masked positions, the input token elsewhere.</param>
    /// <param name="confidence">
    /// [batch, N] probability of each sampled token; at unmasked positions 1, or the committed token's probability
    /// when the step asked for it.
    /// </param>
    public SampledTokens(int batch, int[] tokens, float[] confidence)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(batch, 1);
        ArgumentNullException.ThrowIfNull(tokens);
        ArgumentNullException.ThrowIfNull(confidence);
        if (tokens.Length % batch != 0 || confidence.Length != tokens.Length)
        {
            throw new ArgumentException($"Tokens ({tokens.Length}) and confidence ({confidence.Length}) are not both [{batch}, N].", nameof(tokens));
        }

        Batch = batch;
        Length = tokens.Length / batch;
        Tokens = tokens;
        Confidence = confidence;
    }

    /// <summary>Images in the batch.</summary>
    public int Batch { get; }

    /// <summary>Tokens per image, N.</summary>
    public int Length { get; }

    /// <summary>[batch, N] sampled tokens.</summary>
    public int[] Tokens { get; }

    /// <summary>[batch, N] confidences.</summary>
    public float[] Confidence { get; }

    /// <summary>[N] the tokens of image <paramref name="index"/>.</summary>
    public ReadOnlySpan<int> TokensOf(int index) => Tokens.AsSpan(Offset(index), Length);

    /// <summary>[N] the confidences of image <paramref name="index"/>.</summary>
    public ReadOnlySpan<float> ConfidenceOf(int index) => Confidence.AsSpan(Offset(index), Length);

    private int Offset(int index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, Batch);
        return index * Length;
    }
}

/// <summary>Reported after every step of <see cref="ParallelDecoder.DecodeAsync"/>.</summary>
/// <param name="Stage">The decoding stage.</param>
/// <param name="Step">Steps finished, 1 to <paramref name="Steps"/> (the step to resume at after a failure).</param>
/// <param name="Steps">Total steps T.</param>
/// <param name="MaskedTokens">Tokens still masked, summed over the batch; 0 after the last step.</param>
/// <param name="TotalTokens">Tokens in the grids, summed over the batch.</param>
/// <param name="States">The batch after the step (read only; valid until the next step starts), e.g. for previews from <see cref="TokenState.Prediction"/>.</param>
public sealed record StepProgress(DecodeStage Stage, int Step, int Steps, int MaskedTokens, int TotalTokens, IReadOnlyList<TokenState> States);
