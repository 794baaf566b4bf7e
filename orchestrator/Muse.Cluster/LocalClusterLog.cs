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
}
