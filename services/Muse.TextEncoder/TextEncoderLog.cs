namespace Muse.TextEncoder;

internal static partial class TextEncoderLog
{
    [LoggerMessage(1, LogLevel.Information, "Tokenizer of {Model} loaded from {Path}: {VocabularySize} pieces, lower-case {Lowercase}.")]
    public static partial void TokenizerLoaded(ILogger logger, string model, string path, int vocabularySize, bool lowercase);

    [LoggerMessage(2, LogLevel.Debug, "{Model} encoded {Count} text(s) in one run.")]
    public static partial void Encoded(ILogger logger, string model, int count);
}
