using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Options;
using Muse.Hosting;

namespace Muse.Transformer;

/// <summary>
/// Step-level continuous batching: the steps of all open Decode streams that use the same model version are stacked
/// into one ONNX Runtime run (<see cref="StepRunner.RunGraph"/>), whatever their step, guidance scale or temperature;
/// guidance and sampling stay per stream (<see cref="StepRunner.Postprocess"/>), so replies are bit-identical to
/// <see cref="ImmediateStepScheduler"/>'s.
/// </summary>
/// <remarks>
/// Per model, one queue and at most one runner loop. A step that finds its model idle starts the loop and runs at
/// once. Steps that arrive during a run queue up and are taken together (FIFO, up to <see cref="BatchingOptions.MaxRows"/>)
/// when it ends. Only while streams of the last run are expected back (their replies are out; their next step is not
/// in) may the loop hold queued steps, for at most <see cref="BatchingOptions.MaxWaitMilliseconds"/>, so that the
/// streams stay in step instead of alternating; a stream is not expected after its last step (t = T−1) or once it
/// ended (<see cref="StreamEnded"/>). A cancelled step leaves the queue; in a run, its result is dropped and the run
/// goes on for the others: the run's own token fires only when every one of its steps is cancelled. A failed run
/// fails each of its steps with the same exception.
/// </remarks>
public sealed class BatchingStepScheduler : IStepScheduler
{
    /// <summary>Histogram of graph rows per run (all streams of the run together).</summary>
    public const string RowsMetric = "muse.transformer.batch_rows";

    /// <summary>Histogram of streams (steps) per run.</summary>
    public const string StreamsMetric = "muse.transformer.batch_streams";

    private readonly ConcurrentDictionary<TransformerModel, ModelQueue> _queues = new();
    private readonly StepRunner _runner;
    private readonly BatchingOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<BatchingStepScheduler> _logger;
    private readonly Histogram<int> _rowsPerRun;
    private readonly Histogram<int> _streamsPerRun;

    private long _expiredWaits;

    /// <summary>Creates the scheduler; the meter comes from <paramref name="meters"/>, which owns it.</summary>
    public BatchingStepScheduler(
        StepRunner runner, IOptions<BatchingOptions> options, TimeProvider time, IMeterFactory meters, ILogger<BatchingStepScheduler> logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(meters);
        _runner = runner;
        _options = options.Value;
        _time = time;
        _logger = logger;
        var meter = meters.Create(MuseTelemetry.MeterName);
        _rowsPerRun = meter.CreateHistogram<int>(RowsMetric, "{row}", "Graph rows stacked into one transformer run.");
        _streamsPerRun = meter.CreateHistogram<int>(StreamsMetric, "{stream}", "Decode streams whose steps shared one transformer run.");
    }

    /// <summary>
    /// Test seam: called on the runner before each graph run with its steps and their result tasks; an exception
    /// thrown here fails the run like an ONNX Runtime error.
    /// </summary>
    internal Action<IReadOnlyList<(StepRows Rows, Task<StepResult> Result)>>? RunStarting { get; set; }

    /// <summary>How often a wait for expected streams ran out (a stream took longer than the window to come back).</summary>
    internal long ExpiredWaits => Interlocked.Read(ref _expiredWaits);

    /// <inheritdoc/>
    public ValueTask<StepResult> ScheduleAsync(DecodeSession session, DecodeStepInput step, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var rows = StepRunner.Prepare(session, step);
        return _queues.GetOrAdd(session.Model, static (model, scheduler) => new ModelQueue(scheduler, model), this)
            .ScheduleAsync(rows, cancellationToken);
    }

    /// <inheritdoc/>
    public void StreamEnded(DecodeSession session)
    {
        ArgumentNullException.ThrowIfNull(session);
        if (_queues.TryGetValue(session.Model, out var queue))
        {
            queue.Forget(session);
        }
    }

    /// <summary>A step waiting for, or taking part in, a run.</summary>
    private sealed class PendingStep(StepRows rows, ActivityContext caller)
    {
        public StepRows Rows { get; } = rows;

        /// <summary>The stream's activity when it scheduled the step: the run's span links to it.</summary>
        public ActivityContext Caller { get; } = caller;

        /// <summary>Completed once, by the run, or earlier by the stream's cancellation.</summary>
        public TaskCompletionSource<StepResult> Result { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>The run that took the step; null while queued. Guarded by the queue's lock.</summary>
        public Run? Run { get; set; }

        /// <summary>Set under the queue's lock; read without it only to skip postprocessing a dropped result.</summary>
        public volatile bool Cancelled;
    }

    /// <summary>One graph run and the steps it serves.</summary>
    private sealed class Run(List<PendingStep> steps)
    {
        public List<PendingStep> Steps { get; } = steps;

        /// <summary>Steps not cancelled yet. Guarded by the queue's lock.</summary>
        public int Live { get; set; } = steps.Count;

        /// <summary>True once the run's steps are answered. Guarded by the queue's lock.</summary>
        public bool Finished { get; set; }

        /// <summary>Fires only when every step of the run is cancelled. Cancelled and disposed under the queue's lock.</summary>
        public CancellationTokenSource Cancellation { get; } = new();
    }

    /// <summary>The queue and runner loop of one model version.</summary>
    private sealed class ModelQueue(BatchingStepScheduler scheduler, TransformerModel model)
    {
        private readonly Lock _gate = new();
        private readonly List<PendingStep> _queue = [];
        private readonly HashSet<DecodeSession> _expected = [];   // streams of the last run whose next step is not in yet
        private int _queuedRows;
        private bool _running;                  // a runner loop exists (running a batch, or about to, or waiting)
        private long _lastRunEnded;             // TimeProvider timestamp: start of the wait for _expected
        private TaskCompletionSource? _wake;    // the waiting loop's signal: something arrived or left

        public async ValueTask<StepResult> ScheduleAsync(StepRows rows, CancellationToken cancellationToken)
        {
            var pending = new PendingStep(rows, Activity.Current?.Context ?? default);
            var start = false;
            lock (_gate)
            {
                _queue.Add(pending);
                _queuedRows += rows.Rows;
                _expected.Remove(rows.Session);
                if (_running)
                {
                    _wake?.TrySetResult();
                }
                else
                {
                    _running = start = true;
                }
            }

            if (start)
            {
                // The loop outlives this call: it must not carry this stream's activity or other async-locals.
                using (ExecutionContext.SuppressFlow())
                {
                    _ = Task.Run(RunLoopAsync, CancellationToken.None);
                }
            }

            // A token already cancelled runs the callback here, synchronously: the step leaves the queue at once.
            using var registration = cancellationToken.Register(
                static (state, token) =>
                {
                    var (queue, step) = ((ModelQueue, PendingStep))state!;
                    queue.Cancel(step, token);
                },
                (this, pending));
            return await pending.Result.Task.ConfigureAwait(false);
        }

        public void Forget(DecodeSession session)
        {
            lock (_gate)
            {
                if (_expected.Remove(session))
                {
                    _wake?.TrySetResult();
                }
            }
        }

        private void Cancel(PendingStep step, CancellationToken cancellationToken)
        {
            lock (_gate)
            {
                if (step.Cancelled || step.Run is { Finished: true })
                {
                    return;
                }

                step.Cancelled = true;
                if (step.Run is null)
                {
                    _queue.Remove(step);
                    _queuedRows -= step.Rows.Rows;
                    _wake?.TrySetResult();
                }
                else if (--step.Run.Live == 0)
                {
                    // Nobody waits for this run any more: terminate the native run (RunOptions.Terminate).
                    step.Run.Cancellation.Cancel();
                }

                step.Result.TrySetCanceled(cancellationToken);
            }
        }

        private async Task RunLoopAsync()
        {
            while (true)
            {
                Run? run;
                TimeSpan wait;
                TaskCompletionSource? wake = null;
                lock (_gate)
                {
                    run = Take(out wait);
                    if (run is null)
                    {
                        if (wait <= TimeSpan.Zero)
                        {
                            _running = false;
                            return;
                        }

                        wake = _wake = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                    }
                }

                if (run is null)
                {
                    await wake!.Task.WaitAsync(wait, scheduler._time).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                    continue;
                }

                Execute(run);
            }
        }

        /// <summary>Under the lock: the next run, or null and how long to wait for more (zero: stop the loop).</summary>
        private Run? Take(out TimeSpan wait)
        {
            wait = TimeSpan.Zero;
            var maxRows = scheduler._options.MaxRows;
            if (_expected.Count > 0 && _queuedRows < maxRows)
            {
                var left = TimeSpan.FromMilliseconds(scheduler._options.MaxWaitMilliseconds) - scheduler._time.GetElapsedTime(_lastRunEnded);
                if (left > TimeSpan.Zero)
                {
                    wait = left;
                    return null;
                }

                // Too late: these streams are not waited for again; their next step runs like a newcomer's.
                _expected.Clear();
                Interlocked.Increment(ref scheduler._expiredWaits);
            }

            if (_queue.Count == 0)
            {
                return null;
            }

            // FIFO, up to MaxRows; the first step always goes, even when it alone has more rows.
            var count = 0;
            var rows = 0;
            while (count < _queue.Count && (count == 0 || rows + _queue[count].Rows.Rows <= maxRows))
            {
                rows += _queue[count].Rows.Rows;
                count++;
            }

            var run = new Run(_queue.GetRange(0, count));
            _queue.RemoveRange(0, count);
            _queuedRows -= rows;
            foreach (var step in run.Steps)
            {
                step.Run = run;
            }

            return run;
        }

        private void Execute(Run run)
        {
            var steps = run.Steps;
            var rows = steps.Select(s => s.Rows).ToList();
            var totalRows = rows.Sum(r => r.Rows);
            var results = new StepResult?[steps.Count];
            var errors = new Exception?[steps.Count];
            using var activity = StartActivity(steps, totalRows);
            try
            {
                scheduler._rowsPerRun.Record(totalRows);
                scheduler._streamsPerRun.Record(steps.Count);
                TransformerLog.BatchRunning(scheduler._logger, model.Id, totalRows, steps.Count);
                scheduler.RunStarting?.Invoke([.. steps.Select(s => (s.Rows, s.Result.Task))]);

                using var logits = StepRunner.RunGraph(model, rows, run.Cancellation.Token);
                for (var i = 0; i < steps.Count; i++)
                {
                    if (steps[i].Cancelled)
                    {
                        continue;   // the result would be dropped
                    }

                    try
                    {
                        results[i] = scheduler._runner.Postprocess(rows[i], logits.Of(i));
                    }
                    catch (Exception ex)
                    {
                        errors[i] = ex;   // this stream's failure only
                    }
                }
            }
            catch (Exception ex)
            {
                // The run failed (or every step was cancelled): each step gets the same exception.
                Array.Fill(errors, ex);
                activity?.SetStatus(ActivityStatusCode.Error, ex.GetType().Name);
            }

            lock (_gate)
            {
                run.Finished = true;
                run.Cancellation.Dispose();
                for (var i = 0; i < steps.Count; i++)
                {
                    // Expected before the reply can go out, so its next step always finds the stream expected.
                    var step = rows[i].Step;
                    if (results[i] is not null && !steps[i].Cancelled && step.Step < step.Steps - 1)
                    {
                        _expected.Add(rows[i].Session);
                    }
                }

                _lastRunEnded = scheduler._time.GetTimestamp();
            }

            for (var i = 0; i < steps.Count; i++)
            {
                if (results[i] is { } result)
                {
                    steps[i].Result.TrySetResult(result);
                }
                else
                {
                    steps[i].Result.TrySetException(errors[i] ?? new InvalidOperationException("The step was not run."));
                }
            }
        }

        private Activity? StartActivity(List<PendingStep> steps, int totalRows)
        {
            if (!MuseTelemetry.ActivitySource.HasListeners())
            {
                return null;
            }

            var links = steps.Where(s => s.Caller != default).Select(s => new ActivityLink(s.Caller)).ToList();
            var activity = MuseTelemetry.ActivitySource.StartActivity(
                "TokenTransformer.BatchRun", ActivityKind.Internal, parentContext: default, links: links);
            activity?.SetTag("muse.model", model.Id);
            activity?.SetTag("muse.batch.rows", totalRows);
            activity?.SetTag("muse.batch.streams", steps.Count);
            return activity;
        }
    }
}
