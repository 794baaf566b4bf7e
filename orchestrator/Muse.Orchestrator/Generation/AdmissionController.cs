using System.ComponentModel.DataAnnotations;
using System.Diagnostics.Metrics;
using System.Threading.Channels;
using Microsoft.Extensions.Options;
using Muse.Hosting;

namespace Muse.Orchestrator.Generation;

/// <summary>Configuration <c>Muse:Queue</c>: how many requests run at once and how many may wait.</summary>
public sealed class QueueOptions
{
    /// <summary>Configuration section name.</summary>
    public const string Section = "Muse:Queue";

    /// <summary>
    /// Requests decoding at the same time. Default 16: a running request spends most of its time waiting for replica
    /// steps, and the transformer replicas batch the steps of concurrent requests, so admitting more fills batches;
    /// the queue is for real overload.
    /// </summary>
    [Range(1, 1024)]
    public int MaxConcurrent { get; set; } = 16;

    /// <summary>Requests waiting for a slot; one more gets RESOURCE_EXHAUSTED. Default 64; 0 = no queue.</summary>
    [Range(0, 100_000)]
    public int MaxQueued { get; set; } = 64;

    /// <summary>
    /// Time a client has to take each event of its response stream (HTTP/2 flow control holds a write while the client
    /// reads nothing). A client that takes none for this long has its request cancelled: the slot and the replicas'
    /// work are freed and the stream is reset. Default 20 s.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.050", "00:10:00")]
    public TimeSpan ClientReadTimeout { get; set; } = TimeSpan.FromSeconds(20);
}

/// <summary>
/// Admission control of Generate: at most <see cref="QueueOptions.MaxConcurrent"/> requests run, later ones wait
/// first-in first-out in a queue of at most <see cref="QueueOptions.MaxQueued"/>, and learn their position whenever
/// it changes. A waiter that is cancelled (or whose deadline passes) leaves the queue.
/// </summary>
/// <remarks>
/// Singleton; thread-safe. With a meter factory it reports the observable gauges <c>muse.orchestrator.queue.depth</c>
/// (<see cref="Waiting"/>) and <c>muse.orchestrator.requests.in_flight</c> (<see cref="Running"/>) on the
/// <see cref="MuseTelemetry.MeterName"/> meter.
/// </remarks>
public sealed class AdmissionController
{
    private readonly Lock _gate = new();
    private readonly LinkedList<Ticket> _waiting = [];
    private readonly int _maxConcurrent;
    private int _running;

    /// <summary>Creates the controller; <paramref name="meters"/> (optional) owns the meter of its gauges.</summary>
    public AdmissionController(IOptions<QueueOptions> options, IMeterFactory? meters = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        _maxConcurrent = options.Value.MaxConcurrent;
        Capacity = options.Value.MaxQueued;
        if (meters is not null)
        {
            var meter = meters.Create(MuseTelemetry.MeterName);
            meter.CreateObservableGauge("muse.orchestrator.queue.depth", () => Waiting, "{request}", "Requests waiting for a slot.");
            meter.CreateObservableGauge("muse.orchestrator.requests.in_flight", () => Running, "{request}", "Requests holding a slot (running).");
        }
    }

    /// <summary>Waiting requests at most.</summary>
    public int Capacity { get; }

    /// <summary>Requests running now.</summary>
    public int Running
    {
        get
        {
            lock (_gate)
            {
                return _running;
            }
        }
    }

    /// <summary>Requests waiting now.</summary>
    public int Waiting
    {
        get
        {
            lock (_gate)
            {
                return _waiting.Count;
            }
        }
    }

    /// <summary>
    /// Takes a slot, or a place at the end of the queue. Returns at once; <see cref="Ticket.WaitAsync"/> waits for the
    /// slot. The caller owns the ticket: disposing it frees the slot or leaves the queue.
    /// </summary>
    /// <exception cref="ResourceExhaustedException">The queue is full.</exception>
    public Ticket Enter()
    {
        lock (_gate)
        {
            var ticket = new Ticket(this);
            if (_running < _maxConcurrent && _waiting.Count == 0)
            {
                _running++;
                ticket.Admit();
                return ticket;
            }

            if (_waiting.Count >= Capacity)
            {
                MuseValidation.ThrowResourceExhausted(
                    $"The request queue is full: {_running} request(s) running and {_waiting.Count} waiting (Muse:Queue:MaxQueued = {Capacity}). Try again later.");
            }

            ticket.Node = _waiting.AddLast(ticket);
            ticket.Positions.Writer.TryWrite(_waiting.Count);
            return ticket;
        }
    }

    private void Release(Ticket ticket)
    {
        lock (_gate)
        {
            if (ticket.Node is { } node)
            {
                // Still waiting: leave the queue; everyone behind moves up.
                _waiting.Remove(node);
                ticket.Node = null;
            }
            else if (ticket.IsAdmitted)
            {
                // The slot goes straight to the first waiter, if any.
                if (_waiting.First is { } first)
                {
                    _waiting.RemoveFirst();
                    first.Value.Node = null;
                    first.Value.Admit();
                }
                else
                {
                    _running--;
                }
            }

            var position = 1;
            foreach (var waiter in _waiting)
            {
                waiter.Positions.Writer.TryWrite(position++);
            }
        }
    }

    /// <summary>A request's place: a slot, or a position in the queue.</summary>
    public sealed class Ticket : IDisposable
    {
        private readonly AdmissionController _queue;
        private int _disposed;

        internal Ticket(AdmissionController queue) => _queue = queue;

        /// <summary>True once the request holds a slot.</summary>
        public bool IsAdmitted { get; private set; }

        internal LinkedListNode<Ticket>? Node { get; set; }

        // Queue positions (1 = next); completed when the ticket is admitted.
        internal Channel<int> Positions { get; } = Channel.CreateUnbounded<int>(new UnboundedChannelOptions { SingleReader = true });

        /// <summary>
        /// Waits for a slot, reporting every queue position (1 = next) through <paramref name="onQueued"/> first; returns
        /// at once when the ticket already holds one.
        /// </summary>
        /// <exception cref="OperationCanceledException"><paramref name="ct"/> fired while waiting (dispose the ticket to leave the queue).</exception>
        public async Task WaitAsync(Func<int, Task> onQueued, CancellationToken ct)
        {
            ArgumentNullException.ThrowIfNull(onQueued);
            var reader = Positions.Reader;
            while (await reader.WaitToReadAsync(ct))
            {
                // Report only the latest position when several changes came at once.
                var position = 0;
                while (reader.TryRead(out var next))
                {
                    position = next;
                }

                if (position > 0 && !reader.Completion.IsCompleted)
                {
                    await onQueued(position);
                }
            }
        }

        /// <summary>Frees the slot (to the next waiter) or leaves the queue. Idempotent.</summary>
        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                _queue.Release(this);
            }
        }

        internal void Admit()
        {
            IsAdmitted = true;
            Positions.Writer.TryComplete();
        }
    }
}
