namespace Muse.Cluster;

/// <summary>
/// How a local cluster restarts a child process that exited on its own: after an exponential backoff, on the same
/// address, counted as up again only once it reports SERVING on <c>grpc.health.v1</c>.
/// </summary>
/// <remarks>
/// Restarts are counted per child. A child that stays up for <see cref="StableAfter"/> has its count and backoff reset,
/// so a process that crashes once a day is restarted after <see cref="InitialBackoff"/> every time; one that keeps
/// crashing sooner (a crash loop) is given up after <see cref="MaxRestarts"/> restarts in a row.
/// </remarks>
public sealed class RestartPolicy
{
    /// <summary>Wait before the first restart; doubles with every further restart in a row. Default 0.5 s.</summary>
    public TimeSpan InitialBackoff { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>Upper bound of the wait between two restarts. Default 30 s.</summary>
    public TimeSpan MaxBackoff { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How long a (re)started child must have been SERVING before its next exit counts as a new incident rather than
    /// part of a crash loop: the restart count and backoff start again from the first restart. Default 60 s.
    /// </summary>
    public TimeSpan StableAfter { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Restarts in a row (start-up failures included) after which the child is given up: it stays down, with an error
    /// in the log, and the rest of the cluster keeps serving. Default 8 (about 90 s of backoff in all); 0 never
    /// restarts.
    /// </summary>
    public int MaxRestarts { get; set; } = 8;

    /// <summary>The wait before restart number <paramref name="attempt"/> of a row (from 1): initial × 2^(attempt−1), capped.</summary>
    public TimeSpan Backoff(int attempt)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(attempt, 1);
        var wait = InitialBackoff < MaxBackoff ? InitialBackoff : MaxBackoff;
        for (var restart = 1; restart < attempt && wait < MaxBackoff; restart++)
        {
            // Compared before doubling, so a large cap cannot overflow.
            wait = wait < MaxBackoff / 2 ? wait * 2 : MaxBackoff;
        }

        return wait;
    }

    internal void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(InitialBackoff, TimeSpan.Zero, nameof(InitialBackoff));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxBackoff, InitialBackoff, nameof(MaxBackoff));
        ArgumentOutOfRangeException.ThrowIfNegative(MaxRestarts, nameof(MaxRestarts));
    }
}
