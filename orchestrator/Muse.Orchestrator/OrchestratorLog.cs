namespace Muse.Orchestrator;

internal static partial class OrchestratorLog
{
    [LoggerMessage(1, LogLevel.Information, "Request {RequestId} accepted: pipeline {Pipeline}, seed {Seed}.")]
    public static partial void RequestAccepted(ILogger logger, string requestId, string pipeline, ulong seed);

    [LoggerMessage(2, LogLevel.Information, "Request {RequestId} finished in {Milliseconds:F0} ms.")]
    public static partial void RequestFinished(ILogger logger, string requestId, double milliseconds);

    [LoggerMessage(3, LogLevel.Warning, "Stage {Stage} replica {Endpoint} failed: {StatusCode} {Detail}")]
    public static partial void ReplicaCallFailed(ILogger logger, string stage, string endpoint, string statusCode, string detail);

    [LoggerMessage(4, LogLevel.Warning, "Decode of {Model} lost replica {Endpoint} after {StepsDone} steps ({StatusCode}); resuming on another replica.")]
    public static partial void DecodeFailover(ILogger logger, string model, string endpoint, int stepsDone, string statusCode);

    [LoggerMessage(5, LogLevel.Information, "Pipelines loaded from {Path}: {Pipelines}; default {Default}.")]
    public static partial void PipelinesLoaded(ILogger logger, string path, string pipelines, string @default);
}
