using Microsoft.Extensions.Logging;

namespace Muse.Imaging;

internal static partial class ImagingLog
{
    [LoggerMessage(1, LogLevel.Information, "Upload rejected ({Reason}): {Detail}")]
    public static partial void UploadRejected(ILogger logger, string reason, string detail);

    [LoggerMessage(2, LogLevel.Information, "Upload could not be decoded as {Format}; the decoder threw {ExceptionType}.")]
    public static partial void UploadUndecodable(ILogger logger, Exception exception, string format, string exceptionType);
}
