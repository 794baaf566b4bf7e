namespace Muse.Cluster;

/// <summary>
/// Every child process this process has started and not yet disposed, so they can be killed when this process exits
/// without disposing its cluster (Ctrl-C past the grace period, an unhandled exception, a test host shutting down).
/// </summary>
/// <remarks>
/// A SIGKILL of the parent cannot be caught; then the children stop on their own when their stdin pipe closes
/// (<c>Muse:Hosting:StopWhenStdinCloses</c>, set for every child).
/// </remarks>
internal static class ChildProcesses
{
    private static readonly HashSet<ClusterProcess> Live = [];
    private static int _hooked;
    private static volatile bool _shuttingDown;

    /// <summary>True once <see cref="KillAll"/> has run: this process is going away, and nothing is restarted any more.</summary>
    public static bool ShuttingDown => _shuttingDown;

    public static void Track(ClusterProcess process)
    {
        if (Interlocked.Exchange(ref _hooked, 1) == 0)
        {
            AppDomain.CurrentDomain.ProcessExit += (_, _) => KillAll();
        }

        lock (Live)
        {
            Live.Add(process);
        }
    }

    public static void Untrack(ClusterProcess process)
    {
        lock (Live)
        {
            Live.Remove(process);
        }
    }

    public static void KillAll()
    {
        _shuttingDown = true;
        ClusterProcess[] live;
        lock (Live)
        {
            live = [.. Live];
        }

        foreach (var process in live)
        {
            process.Kill();
        }
    }
}
