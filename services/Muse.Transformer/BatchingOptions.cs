using System.ComponentModel.DataAnnotations;

namespace Muse.Transformer;

/// <summary>
/// Configuration section <c>Muse:Transformer:Batching</c>: step-level batching of concurrent Decode streams
/// (<see cref="BatchingStepScheduler"/>). The defaults were chosen, not measured on production hardware: re-measure
/// <see cref="MaxRows"/> and <see cref="MaxWaitMilliseconds"/> for each model size and execution provider.
/// </summary>
public sealed class BatchingOptions
{
    /// <summary>Configuration section name.</summary>
    public const string Section = "Muse:Transformer:Batching";

    /// <summary>
    /// True: <see cref="BatchingStepScheduler"/>; false: <see cref="ImmediateStepScheduler"/> (every step its own
    /// run). Default true.
    /// </summary>
    public bool Enabled { get; set; } = true;

    /// <summary>
    /// Most graph rows in one run. Default 64: two streams of 16 images with guidance (32 rows each), or more smaller
    /// ones. Bounds the activation memory of a run; a single step with more rows still runs, alone.
    /// </summary>
    [Range(1, 4096)]
    public int MaxRows { get; set; } = 64;

    /// <summary>
    /// After a run, how long to hold queued steps for the streams of that run that have not sent their next step yet
    /// (their reply is on its way to the orchestrator and back), in milliseconds. Default 5: a loopback or LAN round
    /// trip plus the orchestrator's re-masking, small next to a GPU run of a real model. 0 = never wait (pure
    /// continuous batching: whatever queued during a run goes into the next one). A step never waits when no other
    /// stream of its model is mid-step, so a lone stream is never delayed.
    /// </summary>
    [Range(0, 60_000)]
    public int MaxWaitMilliseconds { get; set; } = 5;
}
