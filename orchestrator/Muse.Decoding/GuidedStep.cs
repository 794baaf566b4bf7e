using System.Buffers;

namespace Muse.Decoding;

/// <summary>
/// What a transformer does with the logits of one step, for every image of a batch: classifier-free guidance
/// (<see cref="Guidance.Mix"/>) and counter-RNG sampling with the image's own seed (<see cref="Sampler.SampleInto"/>).
/// The serving replica and the trainer's samplers both call it, so only their forward passes can differ.
/// </summary>
public static class GuidedStep
{
    /// <summary>Guides and samples one step of <paramref name="images"/> images.</summary>
    /// <param name="logits">[rows, N, K]: images 0..B−1 conditional, then (when <paramref name="guided"/>) 0..B−1 unconditional.</param>
    /// <param name="tokens">[B, N] the images' current tokens.</param>
    /// <param name="images">Images B.</param>
    /// <param name="guided">Whether <paramref name="logits"/> holds the unconditional rows.</param>
    /// <param name="guidanceScale">This step's guidance scale.</param>
    /// <param name="samplingTemperature">Categorical sampling temperature; 0 = greedy.</param>
    /// <param name="seeds">[B] one seed per image.</param>
    /// <param name="stage">The decoding stage.</param>
    /// <param name="step">Step t.</param>
    /// <param name="maskTokenId">The mask token id.</param>
    /// <param name="committedConfidence">Score the tokens at unmasked positions too (re-competition).</param>
    /// <returns>[B, N] sampled tokens and their confidences.</returns>
    /// <exception cref="ArgumentException">The shapes disagree, or logits cannot be sampled (not finite).</exception>
    public static SampledTokens Sample(
        ReadOnlySpan<float> logits, ReadOnlySpan<int> tokens, int images, bool guided, float guidanceScale,
        float samplingTemperature, IReadOnlyList<ulong> seeds, DecodeStage stage, int step, int maskTokenId,
        bool committedConfidence)
    {
        ArgumentNullException.ThrowIfNull(seeds);
        ArgumentOutOfRangeException.ThrowIfLessThan(images, 1);
        var rows = guided ? 2 * images : images;
        var length = tokens.Length / images;
        if (seeds.Count != images || tokens.Length != images * length || length == 0 || logits.Length == 0
            || logits.Length % (rows * length) != 0)
        {
            throw new ArgumentException(
                $"Logits ({logits.Length}) and tokens ({tokens.Length}) are not [{rows}, N, K] and [{images}, N] for {seeds.Count} seeds.", nameof(logits));
        }

        var imageLogits = logits.Length / rows;         // N·K
        var sampled = new int[images * length];         // [B, N]
        var confidence = new float[images * length];    // [B, N]
        // [N, K], overwritten whole by each Mix. Pooled: a fresh array of this size per step came from the large
        // object heap, and first writes to its new pages were a visible share of a replica's CPU (page faults).
        var rented = ArrayPool<float>.Shared.Rent(imageLogits);
        try
        {
            var mixed = rented.AsSpan(0, imageLogits);
            for (var image = 0; image < images; image++)
            {
                var conditional = logits.Slice(image * imageLogits, imageLogits);
                var unconditional = guided ? logits.Slice((images + image) * imageLogits, imageLogits) : default;
                Guidance.Mix(conditional, unconditional, guidanceScale, mixed);
                Sampler.SampleInto(
                    mixed,
                    tokens.Slice(image * length, length),
                    maskTokenId,
                    samplingTemperature,
                    seeds[image],
                    stage,
                    step,
                    sampled.AsSpan(image * length, length),
                    confidence.AsSpan(image * length, length),
                    committedConfidence);
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(rented);
        }

        return new SampledTokens(images, sampled, confidence);
    }
}
