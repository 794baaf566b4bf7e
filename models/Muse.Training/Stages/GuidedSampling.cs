using Muse.Decoding;

namespace Muse.Training.Stages;

/// <summary>
/// What a transformer replica does with the logits of one step (services/Muse.Transformer/StepRunner.cs, after its
/// ONNX run): per image classifier-free guidance <see cref="Guidance.Mix"/> and counter-RNG sampling
/// <see cref="Sampler.SampleInto"/> with the image's seed. Shared by the trainer's samplers, so the only thing
/// that can differ between them and serving is the forward pass.
/// </summary>
internal static class GuidedSampling
{
    /// <summary>[B, N] the states' current tokens, as the graphs take them.</summary>
    public static long[] Tokens(IReadOnlyList<TokenState> states)
    {
        ArgumentNullException.ThrowIfNull(states);
        var length = states[0].Length;
        var tokens = new long[states.Count * length];
        for (var image = 0; image < states.Count; image++)
        {
            for (var i = 0; i < length; i++)
            {
                tokens[(image * length) + i] = states[image].Tokens[i];
            }
        }

        return tokens;
    }

    /// <summary>Guidance and sampling of one step for every image.</summary>
    /// <param name="logits">[rows, N, K]: images 0..B−1 conditional, then (when <paramref name="guided"/>) 0..B−1 unconditional.</param>
    /// <param name="states">The batch (read only).</param>
    /// <param name="guided">Whether <paramref name="logits"/> holds the unconditional rows.</param>
    /// <param name="guidanceScale">This step's guidance scale.</param>
    /// <param name="samplingTemperature">Categorical sampling temperature; 0 = greedy.</param>
    /// <param name="seeds">[B] one seed per image.</param>
    /// <param name="stage">The decoding stage.</param>
    /// <param name="step">Step t.</param>
    /// <param name="maskTokenId">The mask token id.</param>
    public static SampledTokens Sample(
        ReadOnlySpan<float> logits, IReadOnlyList<TokenState> states, bool guided, float guidanceScale, float samplingTemperature,
        IReadOnlyList<ulong> seeds, DecodeStage stage, int step, int maskTokenId)
    {
        ArgumentNullException.ThrowIfNull(states);
        ArgumentNullException.ThrowIfNull(seeds);
        var images = states.Count;
        var length = states[0].Length;
        var rows = guided ? 2 * images : images;
        if (seeds.Count != images || logits.Length == 0 || logits.Length % (rows * length) != 0)
        {
            throw new ArgumentException($"Logits ({logits.Length}) are not [{rows}, {length}, K] for {images} images and {seeds.Count} seeds.", nameof(logits));
        }

        var imageLogits = logits.Length / rows;         // N·K
        var sampled = new int[images * length];         // [B, N]
        var confidence = new float[images * length];    // [B, N]
        var mixed = new float[imageLogits];             // [N, K]
        for (var image = 0; image < images; image++)
        {
            var conditional = logits.Slice(image * imageLogits, imageLogits);
            var unconditional = guided ? logits.Slice((images + image) * imageLogits, imageLogits) : default;
            Guidance.Mix(conditional, unconditional, guidanceScale, mixed);
            Sampler.SampleInto(
                mixed,
                states[image].Tokens,
                maskTokenId,
                samplingTemperature,
                seeds[image],
                stage,
                step,
                sampled.AsSpan(image * length, length),
                confidence.AsSpan(image * length, length));
        }

        return new SampledTokens(images, sampled, confidence);
    }
}
