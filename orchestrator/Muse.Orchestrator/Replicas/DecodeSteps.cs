using Muse.Decoding;
using Muse.Protos;
using Muse.Protos.V1;
using Muse.Repository;

namespace Muse.Orchestrator.Replicas;

/// <summary>The <c>DecodeStep</c> message of one step, built once for every sampler (a replica's stream, the in-process stages).</summary>
public static class DecodeSteps
{
    /// <summary>The batch's current tokens, [batch, h, w], and the step's settings as <see cref="ITokenSampler.SampleAsync"/> gives them.</summary>
    public static DecodeStep Create(
        ModelManifest model, IReadOnlyList<TokenState> states, int step, int steps, float guidanceScale, float samplingTemperature, bool committedConfidence)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(states);
        var length = model.GridHeight * model.GridWidth;
        var tokens = new int[states.Count * length];   // [batch, h*w]
        for (var i = 0; i < states.Count; i++)
        {
            states[i].Tokens.CopyTo(tokens, i * length);
        }

        return new DecodeStep
        {
            Tokens = TensorConvert.FromInt32(tokens, states.Count, model.GridHeight, model.GridWidth),
            Step = step,
            Steps = steps,
            GuidanceScale = guidanceScale,
            SamplingTemperature = samplingTemperature,
            CommittedConfidence = committedConfidence,
        };
    }
}
