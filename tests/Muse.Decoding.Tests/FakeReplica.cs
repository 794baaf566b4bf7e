using Muse.Decoding;

namespace Muse.Decoding.Tests;

/// <summary>
/// A stand-in for the gRPC transport to a transformer replica: a fixed, deterministic "model" whose logits depend
/// on each image's current tokens, sampled with the real <see cref="Sampler"/>. It can break at a chosen step
/// like a replica that dies mid-decode.
/// </summary>
internal sealed class FakeReplica(IReadOnlyList<ulong> seeds, DecodeStage stage, int codebookSize, int breakAtStep = -1) : ITokenSampler
{
    public List<int> Steps { get; } = [];

    public List<float> GuidanceScales { get; } = [];

    public Func<int[], int[]>? Corrupt { get; init; }

    public ValueTask<SampledTokens> SampleAsync(
        IReadOnlyList<TokenState> states,
        int step,
        int steps,
        float guidanceScale,
        float samplingTemperature,
        bool committedConfidence,
        CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        if (step == breakAtStep)
        {
            throw new IOException($"Replica lost at step {step}.");
        }

        Steps.Add(step);
        GuidanceScales.Add(guidanceScale);
        var length = states[0].Length;
        var logits = new float[states.Count * length * codebookSize];     // [batch, N, K]
        var tokens = new int[states.Count * length];                      // [batch, N]
        for (var b = 0; b < states.Count; b++)
        {
            states[b].Tokens.CopyTo(tokens, b * length);
            // The "context" makes later steps depend on what earlier steps fixed, as a real model's would.
            var context = states[b].Tokens.Where(t => t != states[b].MaskTokenId).Sum() % 97;
            for (var p = 0; p < length; p++)
            {
                for (var k = 0; k < codebookSize; k++)
                {
                    logits[(((b * length) + p) * codebookSize) + k] = 3f * MathF.Sin((p * 1.3f) + (k * 0.7f) + (context * 0.1f));
                }
            }
        }

        var sampled = new int[tokens.Length];        // [batch, N]
        var confidence = new float[tokens.Length];   // [batch, N]
        Sampler.SampleBatchInto(logits, tokens, states[0].MaskTokenId, samplingTemperature, seeds.ToArray(), stage, step, sampled, confidence, committedConfidence);
        return ValueTask.FromResult(new SampledTokens(states.Count, Corrupt?.Invoke(sampled) ?? sampled, confidence));
    }
}
