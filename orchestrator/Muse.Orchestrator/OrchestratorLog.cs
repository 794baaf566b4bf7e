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

    // Pipeline reloads use 20+, apart from the ids other parts of the orchestrator add.
    [LoggerMessage(20, LogLevel.Information, "Pipelines reloaded from {Path}: {Pipelines}. Versions added: {Added}. Requests in flight keep their versions.")]
    public static partial void PipelinesReloaded(ILogger logger, string path, string pipelines, string added);

    [LoggerMessage(21, LogLevel.Error, "Pipelines file {Path} refused; the last good configuration keeps serving: {Reason}")]
    public static partial void PipelinesRefused(ILogger logger, string path, string reason);

    [LoggerMessage(22, LogLevel.Warning, "Pipelines file {Path} adds {Stage} version(s) {Models}, but no replica of that stage answered to confirm it serves them.")]
    public static partial void PipelineVersionsUnconfirmed(ILogger logger, string path, string stage, string models);

    [LoggerMessage(23, LogLevel.Warning, "Cannot watch {Folder} for changes ({Reason}); pipelines.json is reloaded by polling only.")]
    public static partial void PipelinesNotWatched(ILogger logger, string folder, string reason);

    [LoggerMessage(6, LogLevel.Warning, "Request {RequestId} cancelled: the client took no event for {Seconds:F1} s.")]
    public static partial void ClientNotReading(ILogger logger, string requestId, double seconds);

    [LoggerMessage(7, LogLevel.Information, "Request {RequestId} prompt {Prompt} (Muse:Security:LogPrompts is on).")]
    public static partial void RequestPrompt(ILogger logger, string requestId, string prompt);
}
