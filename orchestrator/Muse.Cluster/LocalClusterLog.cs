using Microsoft.Extensions.Logging;

namespace Muse.Cluster;

internal static partial class LocalClusterLog
{
    [LoggerMessage(1, LogLevel.Debug, "Started {Name} (pid {ProcessId}): {FileName} {Arguments}")]
    public static partial void ProcessStarted(ILogger logger, string name, int processId, string fileName, string arguments);

    [LoggerMessage(2, LogLevel.Information, "{Name} (pid {ProcessId}) is serving at {Url}.")]
    public static partial void ProcessReady(ILogger logger, string name, int processId, Uri url);

    [LoggerMessage(3, LogLevel.Debug, "{Name} (pid {ProcessId}) exited with code {ExitCode}.")]
    public static partial void ProcessExited(ILogger logger, string name, int processId, int exitCode);

    [LoggerMessage(4, LogLevel.Trace, "[{Name}] {Line}")]
    public static partial void ChildOutput(ILogger logger, string name, string line);

    [LoggerMessage(5, LogLevel.Warning, "{Name} (pid {ProcessId}) did not exit within {Seconds} s of being killed.")]
    public static partial void StopTimedOut(ILogger logger, string name, int processId, double seconds);

    [LoggerMessage(6, LogLevel.Information, "Starting a local cluster from {Repository} with {Models} models.")]
    public static partial void Starting(ILogger logger, string repository, int models);

    [LoggerMessage(7, LogLevel.Information, "Local cluster stopped.")]
    public static partial void Stopped(ILogger logger);

    [LoggerMessage(8, LogLevel.Warning, "{Name} (pid {ProcessId}) exited with code {ExitCode} after {UpSeconds:0.0} s up.")]
    public static partial void ChildExited(ILogger logger, string name, int processId, int exitCode, double upSeconds);

    [LoggerMessage(9, LogLevel.Information, "Restarting {Name} at {Url} in {BackoffSeconds} s (restart {Attempt} in a row, at most {MaxRestarts}).")]
    public static partial void Restarting(ILogger logger, string name, string url, double backoffSeconds, int attempt, int maxRestarts);

    [LoggerMessage(10, LogLevel.Information, "{Name} (pid {ProcessId}) is serving again at {Url} (restart {Attempt} in a row, {Restarts} in all).")]
    public static partial void Restarted(ILogger logger, string name, int processId, string url, int attempt, int restarts);

    [LoggerMessage(11, LogLevel.Warning, "Restart {Attempt} of {Name} failed: {Reason}")]
    public static partial void RestartFailed(ILogger logger, string name, int attempt, string reason);

    [LoggerMessage(12, LogLevel.Error, "Giving up on {Name} after {Restarts} restarts in a row: it stays down; the other processes keep running. Last failure: {Reason}")]
    public static partial void GaveUp(ILogger logger, string name, int restarts, string reason);

    [LoggerMessage(13, LogLevel.Error, "Supervision of {Name} failed; it is no longer restarted.")]
    public static partial void SupervisionFailed(ILogger logger, Exception exception, string name);
}
