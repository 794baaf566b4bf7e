using Microsoft.ML.OnnxRuntime;
using Muse.Decoding;

namespace Muse.Transformer;

/// <summary>
/// One decode step of one stream: a single ONNX Runtime run over the conditional rows of all B images and, when the
/// guidance scale needs them, the unconditional rows (batch 2B); then per image classifier-free guidance and
/// counter-based sampling. Stateless and thread-safe (sessions run concurrently).
/// </summary>
public sealed class StepRunner(ILogger<StepRunner> logger)
{
    /// <summary>Runs <paramref name="step"/>; <paramref name="cancellationToken"/> terminates the native run.</summary>
    public StepResult Run(DecodeSession session, DecodeStepInput step, CancellationToken cancellationToken)
    {
        var model = session.Model;
        var images = session.BatchSize;
        var length = model.Length;
        var codebookSize = model.CodebookSize;
        var guided = Guidance.NeedsUnconditional(step.GuidanceScale);
        var conditioning = session.Rows(guided);
        var rows = conditioning.Rows;

        // Preprocess: every image's tokens once per text row, widened to int64 for the graph.
        var tokens = new long[rows * length];   // [rows, N]
        for (var row = 0; row < rows; row++)
        {
            var image = step.Tokens.AsSpan((row % images) * length, length);
            var target = tokens.AsSpan(row * length, length);
            for (var i = 0; i < length; i++)
            {
                target[i] = image[i];
            }
        }

        var textLength = model.Manifest.TextMaxLength;
        var inputs = new Dictionary<string, OrtValue>();
        try
        {
            // The OrtValues pin the managed arrays until disposed; the arrays outlive the run.
            inputs[model.TokensInput] = OrtValue.CreateTensorValueFromMemory(tokens, [rows, length]);
            inputs[model.TextEmbeddingsInput] = OrtValue.CreateTensorValueFromMemory(
                conditioning.TextEmbeddings, [rows, textLength, model.Manifest.TextEmbeddingDim]);
            inputs[model.TextMaskInput] = OrtValue.CreateTensorValueFromMemory(conditioning.TextMask, [rows, textLength]);
            if (model.LowResTokensInput is not null)
            {
                inputs[model.LowResTokensInput] = OrtValue.CreateTensorValueFromMemory(conditioning.LowResTokens!, [rows, model.LowResLength]);
            }

            // Run.
            using var outputs = model.Graph.Run(inputs, cancellationToken);
            var logits = outputs[model.LogitsIndex].GetTensorDataAsSpan<float>();   // [rows, N, K]
            var imageLogits = length * codebookSize;
            if (logits.Length != rows * imageLogits)
            {
                throw new InvalidOperationException(
                    $"Model {model.Id} returned {logits.Length} logits; expected [{rows}, {length}, {codebookSize}].");
            }

            // Postprocess: guidance u + s·(c − u) and sampling, image by image with its own seed.
            var sampled = new int[images * length];         // [B, N]
            var confidence = new float[images * length];    // [B, N]
            var mixed = new float[imageLogits];             // [N, K]
            for (var image = 0; image < images; image++)
            {
                var conditional = logits.Slice(image * imageLogits, imageLogits);
                var unconditional = guided ? logits.Slice((images + image) * imageLogits, imageLogits) : default;
                Guidance.Mix(conditional, unconditional, step.GuidanceScale, mixed);
                try
                {
                    Sampler.SampleInto(
                        mixed,
                        step.Tokens.AsSpan(image * length, length),
                        model.MaskTokenId,
                        step.SamplingTemperature,
                        session.Seeds[image],
                        model.Stage,
                        step.Step,
                        sampled.AsSpan(image * length, length),
                        confidence.AsSpan(image * length, length));
                }
                catch (ArgumentException ex)
                {
                    // Inputs are validated, so non-finite logits are the model's fault: Internal, not InvalidArgument.
                    throw new InvalidOperationException($"Model {model.Id} produced logits that cannot be sampled.", ex);
                }
            }

            TransformerLog.StepDecoded(logger, model.Id, step.Step, step.Steps, rows, step.GuidanceScale, step.SamplingTemperature);
            return new StepResult(sampled, confidence, rows);
        }
        finally
        {
            foreach (var value in inputs.Values)
            {
                value.Dispose();
            }
        }
    }
}
