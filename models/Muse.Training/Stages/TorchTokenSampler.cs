using Muse.Decoding;
using Muse.Training.Nn;
using static TorchSharp.torch;

namespace Muse.Training.Stages;

/// <summary>
/// The serving replica's decode step (services/Muse.Transformer/StepRunner.cs) over a trained
/// <see cref="MaskedTransformer"/>, so the trainer decodes through <see cref="ParallelDecoder"/> like the pipeline:
/// one forward pass over the conditional rows of all B images and, when the guidance scale needs them, the
/// unconditional rows after them (batch 2B); then, image by image, <see cref="Guidance.Mix"/> and
/// <see cref="Sampler.SampleInto"/> with the image's seed. Only the forward pass differs from serving (TorchSharp
/// instead of ONNX Runtime), so equal logits give equal tokens.
/// </summary>
/// <remarks>
/// Serving sends one prompt and one negative prompt per stream; here every image may have its own caption (a batch
/// of held-out captions), so the text rows are per image. The sampler owns the row tensors it builds and disposes
/// them; the tensors passed in stay the caller's. Not thread-safe.
/// </remarks>
internal sealed class TorchTokenSampler : ITokenSampler, IDisposable
{
    private readonly MaskedTransformer _model;
    private readonly DecodeStage _stage;
    private readonly ulong[] _seeds;
    private readonly Rows _conditional;
    private readonly Rows _guided;

    /// <param name="model">The trained transformer, in eval mode.</param>
    /// <param name="stage">Base or super-resolution (part of the noise identity).</param>
    /// <param name="seeds">[B] one seed per image.</param>
    /// <param name="text">[B, L, Dt] text embeddings of each image's prompt.</param>
    /// <param name="textMask">[B, L] float, 1 = token, 0 = padding.</param>
    /// <param name="negativeText">[B, L, Dt] embeddings of the negative (or empty) prompt: the unconditional rows.</param>
    /// <param name="negativeMask">[B, L] its mask.</param>
    /// <param name="lowResTokens">[B, M] int64 base tokens beneath each image (super-resolution); null for base.</param>
    public TorchTokenSampler(
        MaskedTransformer model,
        DecodeStage stage,
        IReadOnlyList<ulong> seeds,
        Tensor text,
        Tensor textMask,
        Tensor negativeText,
        Tensor negativeMask,
        Tensor? lowResTokens)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(seeds);
        if (seeds.Count == 0 || text.shape[0] != seeds.Count || negativeText.shape[0] != seeds.Count)
        {
            throw new ArgumentException($"Need one seed and one text row per image; got {seeds.Count} seeds, {text.shape[0]} and {negativeText.shape[0]} text rows.", nameof(seeds));
        }

        if (model.Config.IsSuperResolution != lowResTokens is not null)
        {
            throw new ArgumentException("Low-res tokens are required by a super-resolution model and absent for a base model.", nameof(lowResTokens));
        }

        _model = model;
        _stage = stage;
        _seeds = [.. seeds];
        _conditional = new Rows(text.alias(), textMask.to_type(ScalarType.Float32), lowResTokens?.to_type(ScalarType.Int64));
        // As DecodeSession.Rows: images 0..B−1 with the prompt, then images 0..B−1 again with the negative prompt.
        _guided = new Rows(
            cat([text, negativeText], 0),                                                              // [2B, L, Dt]
            cat([textMask, negativeMask], 0).to_type(ScalarType.Float32),                               // [2B, L]
            lowResTokens is null ? null : cat([lowResTokens, lowResTokens], 0).to_type(ScalarType.Int64)); // [2B, M]
    }

    public ValueTask<SampledTokens> SampleAsync(
        IReadOnlyList<TokenState> states,
        int step,
        int steps,
        float guidanceScale,
        float samplingTemperature,
        bool committedConfidence,
        CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(states);
        ct.ThrowIfCancellationRequested();
        if (states.Count != _seeds.Length)
        {
            throw new ArgumentException($"The sampler was opened for {_seeds.Length} images, not {states.Count}.", nameof(states));
        }

        var guided = Guidance.NeedsUnconditional(guidanceScale);
        var logits = Logits(GuidedSampling.Tokens(states), states.Count, guided); // [rows, N, K]
        return ValueTask.FromResult(GuidedSampling.Sample(logits, states, guided, guidanceScale, samplingTemperature, _seeds, _stage, step, (int)_model.MaskTokenId, committedConfidence));
    }

    /// <summary>
    /// The forward pass of one step: [rows, N, K] logits of the conditional rows of every image and, when
    /// <paramref name="guided"/>, the unconditional rows after them.
    /// </summary>
    /// <param name="tokens">[B, N] current tokens.</param>
    /// <param name="images">Images B.</param>
    /// <param name="guided">Whether to run the unconditional rows too (batch 2B).</param>
    public float[] Logits(long[] tokens, int images, bool guided)
    {
        var rows = guided ? _guided : _conditional;
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var input = tensor(tokens, [images, tokens.Length / images]);     // [B, N]
        var output = _model.Forward(guided ? cat([input, input], 0) : input, rows.Text, rows.TextMask, rows.LowResTokens); // [rows, N, K]
        return output.to_type(ScalarType.Float32).contiguous().data<float>().ToArray();
    }

    public void Dispose()
    {
        _conditional.Dispose();
        _guided.Dispose();
    }

    // The conditioning inputs of one forward pass, row by row.
    private sealed record Rows(Tensor Text, Tensor TextMask, Tensor? LowResTokens) : IDisposable
    {
        public void Dispose()
        {
            Text.Dispose();
            TextMask.Dispose();
            LowResTokens?.Dispose();
        }
    }
}
