using Microsoft.ML.OnnxRuntime;
using Muse.Decoding;

namespace Muse.Transformer;

/// <summary>
/// Decode steps in three parts, so that one stream's step and many streams' steps take the same code:
/// <see cref="Prepare"/> lays out a step's graph rows (the conditional rows of its B images and, when the guidance
/// scale needs them, the unconditional rows: 2B); <see cref="RunGraph"/> makes one ONNX Runtime run over the rows
/// of one or more steps of the same model, stacked; <see cref="Postprocess"/> applies classifier-free guidance and
/// counter-based sampling to one step's own logits, image by image with its own seed. Stateless and thread-safe
/// (sessions run concurrently).
/// </summary>
public sealed class StepRunner(ILogger<StepRunner> logger)
{
    /// <summary>Runs <paramref name="step"/> alone; <paramref name="cancellationToken"/> terminates the native run.</summary>
    public StepResult Run(DecodeSession session, DecodeStepInput step, CancellationToken cancellationToken)
    {
        var rows = Prepare(session, step);
        using var logits = RunGraph(session.Model, [rows], cancellationToken);
        return Postprocess(rows, logits.Of(0));
    }

    /// <summary>Preprocess: every image's tokens once per text row, widened to int64 for the graph.</summary>
    public static StepRows Prepare(DecodeSession session, DecodeStepInput step)
    {
        var length = session.Model.Length;
        var images = session.BatchSize;
        var conditioning = session.Rows(Guidance.NeedsUnconditional(step.GuidanceScale));
        var rows = conditioning.Rows;

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

        return new StepRows(session, step, tokens, conditioning);
    }

    /// <summary>
    /// Runs the graph of <paramref name="model"/> once over the rows of all <paramref name="steps"/>, stacked in
    /// order (each step's rows stay contiguous). Rows do not interact, so a step's logits do not depend on its
    /// neighbours; <paramref name="cancellationToken"/> terminates the native run for all of them.
    /// </summary>
    /// <remarks>The caller owns the returned logits and must dispose them.</remarks>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired.</exception>
    /// <exception cref="OnnxRuntimeException">The run failed.</exception>
    public static StepLogits RunGraph(TransformerModel model, IReadOnlyList<StepRows> steps, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfZero(steps.Count);
        var length = model.Length;
        var textLength = model.Manifest.TextMaxLength;
        var rows = 0;
        foreach (var step in steps)
        {
            if (step.Session.Model != model)
            {
                throw new ArgumentException($"A step of {step.Session.Model.Id} cannot run on {model.Id}.", nameof(steps));
            }

            rows += step.Rows;
        }

        // A single step's arrays are used as they are; several are stacked row-wise into new ones.
        var tokens = Stack(steps, s => s.Tokens);                                   // [rows, N]
        var textEmbeddings = Stack(steps, s => s.Conditioning.TextEmbeddings);      // [rows, L, Dt]
        var textMask = Stack(steps, s => s.Conditioning.TextMask);                  // [rows, L]
        var inputs = new Dictionary<string, OrtValue>();
        try
        {
            // The OrtValues pin the managed arrays until disposed; the arrays outlive the run.
            inputs[model.TokensInput] = OrtValue.CreateTensorValueFromMemory(tokens, [rows, length]);
            inputs[model.TextEmbeddingsInput] = OrtValue.CreateTensorValueFromMemory(
                textEmbeddings, [rows, textLength, model.Manifest.TextEmbeddingDim]);
            if (model.TextMaskInput is not null)
            {
                inputs[model.TextMaskInput] = OrtValue.CreateTensorValueFromMemory(textMask, [rows, textLength]);
            }

            if (model.PooledTextEmbeddingsInput is not null)
            {
                var pooled = Stack(steps, s => s.Conditioning.PooledTextEmbeddings!);   // [rows, Dp]
                inputs[model.PooledTextEmbeddingsInput] = OrtValue.CreateTensorValueFromMemory(pooled, [rows, model.Manifest.PooledEmbeddingDim]);
            }

            if (model.MicroConditionsInput is not null)
            {
                var micro = Stack(steps, s => s.Conditioning.MicroConditions!);          // [rows, 5]
                inputs[model.MicroConditionsInput] = OrtValue.CreateTensorValueFromMemory(micro, [rows, TransformerModel.MicroConditionCount]);
            }

            if (model.LowResTokensInput is not null)
            {
                var lowResTokens = Stack(steps, s => s.Conditioning.LowResTokens!);   // [rows, M]
                inputs[model.LowResTokensInput] = OrtValue.CreateTensorValueFromMemory(lowResTokens, [rows, model.LowResLength]);
            }

            // Run.
            var outputs = model.Graph.Run(inputs, cancellationToken);
            try
            {
                return new StepLogits(model, steps, rows, outputs);
            }
            catch
            {
                outputs.Dispose();
                throw;
            }
        }
        finally
        {
            foreach (var value in inputs.Values)
            {
                value.Dispose();
            }
        }
    }

    /// <summary>
    /// Postprocess one step: guidance u + s·(c − u) and sampling, image by image with its own seed, from
    /// <paramref name="logits"/> = this step's rows only, [rows, N, K].
    /// </summary>
    public StepResult Postprocess(StepRows rows, ReadOnlySpan<float> logits)
    {
        var (session, step) = (rows.Session, rows.Step);
        var model = session.Model;
        var images = session.BatchSize;
        SampledTokens sampled;
        try
        {
            sampled = GuidedStep.Sample(
                logits, step.Tokens, images, guided: rows.Rows > images, step.GuidanceScale, step.SamplingTemperature,
                session.Seeds, model.Stage, step.Step, model.MaskTokenId, step.CommittedConfidence);
        }
        catch (ArgumentException ex)
        {
            // Inputs are validated, so non-finite logits (or a wrong logits shape) are the model's fault: Internal,
            // not InvalidArgument.
            throw new InvalidOperationException($"Model {model.Id} produced logits that cannot be sampled.", ex);
        }

        TransformerLog.StepDecoded(logger, model.Id, step.Step, step.Steps, rows.Rows, step.GuidanceScale, step.SamplingTemperature);
        return new StepResult(sampled.Tokens, sampled.Confidence, rows.Rows);
    }

    private static T[] Stack<T>(IReadOnlyList<StepRows> steps, Func<StepRows, T[]> array)
    {
        if (steps.Count == 1)
        {
            return array(steps[0]);
        }

        var stacked = new T[steps.Sum(s => array(s).Length)];
        var offset = 0;
        foreach (var step in steps)
        {
            var part = array(step);
            part.CopyTo(stacked, offset);
            offset += part.Length;
        }

        return stacked;
    }
}

/// <summary>One step's graph rows, laid out by <see cref="StepRunner.Prepare"/> on the stream's own thread.</summary>
/// <param name="Session">The stream.</param>
/// <param name="Step">The validated step.</param>
/// <param name="Tokens">[rows, N] int64: image i's tokens in row i and, with guidance, in row B + i.</param>
/// <param name="Conditioning">The session's text (and low-res) rows for this layout, shared and read-only.</param>
public sealed record StepRows(DecodeSession Session, DecodeStepInput Step, long[] Tokens, ConditioningRows Conditioning)
{
    /// <summary>Graph rows: B, or 2B with guidance.</summary>
    public int Rows => Conditioning.Rows;
}

/// <summary>
/// The logits of one graph run over the stacked rows of one or more steps; <see cref="Of"/> is one step's part.
/// Owns the run's outputs: a span from <see cref="Of"/> is valid only until this is disposed.
/// </summary>
public sealed class StepLogits : IDisposable
{
    private readonly IDisposableReadOnlyCollection<OrtValue> _outputs;
    private readonly OrtValue _logits;
    private readonly int[] _offsets;    // [steps + 1] first logit of each step, then the total
    private bool _disposed;

    internal StepLogits(TransformerModel model, IReadOnlyList<StepRows> steps, int rows, IDisposableReadOnlyCollection<OrtValue> outputs)
    {
        var rowLogits = model.Length * model.CodebookSize;
        _outputs = outputs;
        _logits = outputs[model.LogitsIndex];
        var count = _logits.GetTensorDataAsSpan<float>().Length;   // [rows, N, K]
        if (count != rows * rowLogits)
        {
            throw new InvalidOperationException(
                $"Model {model.Id} returned {count} logits; expected [{rows}, {model.Length}, {model.CodebookSize}].");
        }

        _offsets = new int[steps.Count + 1];
        for (var i = 0; i < steps.Count; i++)
        {
            _offsets[i + 1] = _offsets[i] + (steps[i].Rows * rowLogits);
        }
    }

    /// <summary>[rows, N, K] the logits of the <paramref name="step"/>-th step of the run.</summary>
    public ReadOnlySpan<float> Of(int step)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return _logits.GetTensorDataAsSpan<float>()[_offsets[step].._offsets[step + 1]];
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _outputs.Dispose();
    }
}
