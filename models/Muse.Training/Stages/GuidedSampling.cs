using Muse.Decoding;

namespace Muse.Training.Stages;

/// <summary>
/// The trainer's samplers' side of <see cref="GuidedStep"/>, which the serving replica calls too: the states' tokens
/// laid out as the graphs and <see cref="GuidedStep.Sample"/> take them, so the only thing that can differ between
/// the trainer and serving is the forward pass.
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
    /// <param name="committedConfidence">Score the tokens at unmasked positions too (re-competition).</param>
    public static SampledTokens Sample(
        ReadOnlySpan<float> logits, IReadOnlyList<TokenState> states, bool guided, float guidanceScale, float samplingTemperature,
        IReadOnlyList<ulong> seeds, DecodeStage stage, int step, int maskTokenId, bool committedConfidence)
    {
        ArgumentNullException.ThrowIfNull(states);
        var length = states[0].Length;
        var tokens = new int[states.Count * length];    // [B, N]
        for (var image = 0; image < states.Count; image++)
        {
            states[image].Tokens.CopyTo(tokens.AsSpan(image * length, length));
        }

        return GuidedStep.Sample(logits, tokens, states.Count, guided, guidanceScale, samplingTemperature, seeds, stage, step, maskTokenId, committedConfidence);
    }
}
