namespace Muse.Transformer;

/// <summary>
/// The way every decode step takes to the model. <see cref="ImmediateStepScheduler"/> runs each step at once, alone.
/// Step-level batching (docs/architecture.md) plugs in here: a scheduler may hold steps from all open streams for
/// a small window and stack the rows of those that use the same model into one ONNX Runtime run, like continuous
/// batching. It must not change results: a step's reply may depend only on its own session and step. That holds
/// because sampling noise is counter-based per (seed, stage, step, position) and transformer rows do not interact;
/// the text rows already have the model's fixed length L, so stacking needs no extra padding.
/// </summary>
public interface IStepScheduler
{
    /// <summary>Runs <paramref name="step"/> of <paramref name="session"/>, now or batched with others.</summary>
    /// <param name="session">The stream's validated conditioning.</param>
    /// <param name="step">The validated step.</param>
    /// <param name="cancellationToken">The stream's token: cancels this step only, never a batch neighbour.</param>
    ValueTask<StepResult> ScheduleAsync(DecodeSession session, DecodeStepInput step, CancellationToken cancellationToken);
}

/// <summary>Runs each step immediately as its own ONNX Runtime run (no cross-stream batching).</summary>
public sealed class ImmediateStepScheduler(StepRunner runner) : IStepScheduler
{
    /// <inheritdoc/>
    public ValueTask<StepResult> ScheduleAsync(DecodeSession session, DecodeStepInput step, CancellationToken cancellationToken) =>
        ValueTask.FromResult(runner.Run(session, step, cancellationToken));
}
