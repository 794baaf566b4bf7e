namespace Muse.Transformer;

internal static partial class TransformerLog
{
    [LoggerMessage(1, LogLevel.Debug, "Decode stream opened on {Model} for {Batch} image(s).")]
    public static partial void StreamOpened(ILogger logger, string model, int batch);

    [LoggerMessage(2, LogLevel.Debug, "{Model} step {Step} of {Steps}: {Rows} row(s), guidance scale {GuidanceScale}, sampling temperature {SamplingTemperature}.")]
    public static partial void StepDecoded(ILogger logger, string model, int step, int steps, int rows, float guidanceScale, float samplingTemperature);

    [LoggerMessage(3, LogLevel.Information, "Decode stream on {Model} finished after {StepCount} step(s).")]
    public static partial void StreamCompleted(ILogger logger, string model, int stepCount);

    [LoggerMessage(4, LogLevel.Information, "Decode stream on {Model} was cancelled by the client after {StepCount} step(s).")]
    public static partial void StreamCancelled(ILogger logger, string model, int stepCount);

    [LoggerMessage(5, LogLevel.Information, "Transformer {Model} serves the {Stage} stage: grid {GridHeight}x{GridWidth}, codebook {CodebookSize}.")]
    public static partial void ModelReady(ILogger logger, string model, string stage, int gridHeight, int gridWidth, int codebookSize);

    [LoggerMessage(6, LogLevel.Debug, "{Model}: one run of {Rows} row(s) for {Streams} stream(s).")]
    public static partial void BatchRunning(ILogger logger, string model, int rows, int streams);

    [LoggerMessage(7, LogLevel.Information, "Decode stream on {Model} closed: no message for {Seconds:F1} s after {StepCount} step(s).")]
    public static partial void StreamIdle(ILogger logger, string model, double seconds, int stepCount);
}
