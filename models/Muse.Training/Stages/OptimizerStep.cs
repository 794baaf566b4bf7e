using TorchSharp;
using static TorchSharp.torch;

namespace Muse.Training.Stages;

/// <summary>
/// One optimizer step of a trainer: backward, gradient clipping to norm 1, and the update — unless the gradient is
/// not finite. TorchSharp's CPU backward returned non-finite gradients on some runs of the same seeded step (the
/// forward pass and its loss identical), and one such update turns every weight into NaN for good; a skipped step
/// loses one batch instead. Skips are logged, and too many in a row stop the run (the model, not the kernel, is then
/// at fault).
/// </summary>
internal sealed class OptimizerStep(nn.Module model, optim.Optimizer optimizer, TextWriter log)
{
    /// <summary>Consecutive skipped steps after which training stops.</summary>
    public const int MaxSkippedInARow = 20;

    private int _skippedInARow;

    /// <summary>Steps skipped so far.</summary>
    public int Skipped { get; private set; }

    /// <summary>Backpropagates <paramref name="loss"/> and updates the weights; false when the step was skipped.</summary>
    public bool Apply(Tensor loss, long step)
    {
        optimizer.zero_grad();
        loss.backward();
        var norm = nn.utils.clip_grad_norm_(model.parameters(), 1.0);
        if (double.IsFinite(norm))
        {
            optimizer.step();
            _skippedInARow = 0;
            return true;
        }

        Skipped++;
        log.WriteLine($"step {step}: gradient norm {norm}, update skipped ({Skipped} so far)");
        if (++_skippedInARow >= MaxSkippedInARow)
        {
            throw new InvalidOperationException(
                $"{MaxSkippedInARow} steps in a row had a non-finite gradient (last at step {step}); the run is stopped.");
        }

        optimizer.zero_grad();
        return false;
    }
}
