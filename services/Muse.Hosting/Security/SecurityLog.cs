using Microsoft.Extensions.Logging;

namespace Muse.Hosting.Security;

/// <summary>Log messages of the shared security parts. Keys and tokens are never logged; key names and peers are.</summary>
internal static partial class SecurityLog
{
    [LoggerMessage(101, LogLevel.Warning, "{Method} from {Peer} refused: {What} for the internal stage service.")]
    public static partial void InternalCallRefused(ILogger logger, string method, string peer, string what);

    [LoggerMessage(102, LogLevel.Information, "Serving TLS with certificate {Subject} (expires {NotAfter:u}) from {CertificateFile}.")]
    public static partial void ServingTls(ILogger logger, string subject, DateTime notAfter, string certificateFile);

    [LoggerMessage(103, LogLevel.Information, "{Method} refused: the request message is not valid protobuf ({Reason}).")]
    public static partial void BadMessage(ILogger logger, string method, string reason);
}
