namespace Muse.Orchestrator.Replicas;

/// <summary>Log messages of replica health, balancing and resolution (event ids 20–29).</summary>
internal static partial class ReplicaLog
{
    [LoggerMessage(20, LogLevel.Warning, "Stage {Stage} replica {Endpoint} marked down ({Reason}); probing it until it serves again.")]
    public static partial void ReplicaDown(ILogger logger, string stage, string endpoint, string reason);

    [LoggerMessage(21, LogLevel.Information, "Stage {Stage} replica {Endpoint} is up: {Models}.")]
    public static partial void ReplicaUp(ILogger logger, string stage, string endpoint, string models);

    [LoggerMessage(22, LogLevel.Debug, "Probe of stage {Stage} replica {Endpoint} failed ({Reason}); next in {DelayMilliseconds:F0} ms.")]
    public static partial void ProbeFailed(ILogger logger, string stage, string endpoint, string reason, double delayMilliseconds);

    [LoggerMessage(23, LogLevel.Information, "Stage {Stage} replicas changed: added {Added}; removed {Removed}.")]
    public static partial void ReplicasChanged(ILogger logger, string stage, string added, string removed);

    [LoggerMessage(24, LogLevel.Warning, "Stage {Stage} endpoint {Endpoint} could not be resolved ({Reason}); keeping its last addresses.")]
    public static partial void ResolveFailed(ILogger logger, string stage, string endpoint, string reason);

    [LoggerMessage(25, LogLevel.Warning, "Decode of {Model} could not start on replica {Endpoint} ({StatusCode}); trying another replica at once.")]
    public static partial void DecodeOpenFailed(ILogger logger, string model, string endpoint, string statusCode);
}
