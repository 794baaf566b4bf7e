namespace Muse.Transformer;

/// <summary>
/// The way every decode step takes to the model: <see cref="ImmediateStepScheduler"/> runs each step at once, alone;
/// <see cref="BatchingStepScheduler"/> stacks the rows of steps from all open streams of the same model into one
/// ONNX Runtime run (step-level continuous batching). A scheduler must not change results: a step's reply may depend
/// only on its own session and step. That holds because sampling noise is counter-based per (seed, stage, step,
/// position), guidance and sampling run per stream (<see cref="StepRunner.Postprocess"/>), and transformer rows do
/// not interact; the text rows already have the model's fixed length L, so stacking needs no extra padding.
/// </summary>
public interface IStepScheduler
{
    /// <summary>Runs <paramref name="step"/> of <paramref name="session"/>, now or batched with others.</summary>
    /// <param name="session">The stream's validated conditioning.</param>
    /// <param name="step">The validated step.</param>
    /// <param name="cancellationToken">The stream's token: cancels this step only, never a batch neighbour.</param>
    ValueTask<StepResult> ScheduleAsync(DecodeSession session, DecodeStepInput step, CancellationToken cancellationToken);

    /// <summary>
    /// Says that <paramref name="session"/>'s stream has ended (completed, cancelled or failed) and will schedule no
    /// more steps, so a batching scheduler stops waiting for its next one.
    /// </summary>
    void StreamEnded(DecodeSession session);
}

/// <summary>Runs each step immediately as its own ONNX Runtime run (no cross-stream batching).</summary>
public sealed class ImmediateStepScheduler(StepRunner runner) : IStepScheduler
{
    /// <inheritdoc/>
    public ValueTask<StepResult> ScheduleAsync(DecodeSession session, DecodeStepInput step, CancellationToken cancellationToken) =>
        ValueTask.FromResult(runner.Run(session, step, cancellationToken));

    /// <inheritdoc/>
    public void StreamEnded(DecodeSession session)
    {
        // Nothing is kept per stream.
    }
}
