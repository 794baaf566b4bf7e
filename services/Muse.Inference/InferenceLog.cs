using Microsoft.Extensions.Logging;

namespace Muse.Inference;

internal static partial class InferenceLog
{
    [LoggerMessage(1, LogLevel.Information, "Session for {Path} runs on the {Provider} execution provider.")]
    public static partial void SessionCreated(ILogger logger, string path, string provider);

    [LoggerMessage(2, LogLevel.Warning, "Execution provider {Provider} is unavailable for {Path}; trying the next one. {Reason}")]
    public static partial void ProviderUnavailable(ILogger logger, string provider, string path, string reason);

    [LoggerMessage(4, LogLevel.Debug, "Execution provider {Provider} failed to load earlier in this process; {Path} tries the next one. {Reason}")]
    public static partial void ProviderUnloadable(ILogger logger, string provider, string path, string reason);

    [LoggerMessage(7, LogLevel.Information, "Execution provider {Provider} is not available on this machine: {Reason} Sessions use the next provider (CPU last).")]
    public static partial void ProviderAbsent(ILogger logger, string provider, string reason);

    [LoggerMessage(3, LogLevel.Information, "Model {Model} ({Stage}) loaded from {Folder}.")]
    public static partial void ModelLoaded(ILogger logger, string model, string stage, string folder);

    [LoggerMessage(5, LogLevel.Information, "Serving {Count} model(s) for stage {Stages}: {Models}.")]
    public static partial void StageModelsLoaded(ILogger logger, int count, string stages, string models);

    [LoggerMessage(6, LogLevel.Information, "Released {Count} model(s).")]
    public static partial void StageModelsReleased(ILogger logger, int count);
}
