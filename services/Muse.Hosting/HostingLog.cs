using Grpc.Core;
using Microsoft.Extensions.Logging;

namespace Muse.Hosting;

/// <summary>Every log message of Muse.Hosting.</summary>
internal static partial class HostingLog
{
    [LoggerMessage(1, LogLevel.Information, "{Method} failed with {StatusCode}: {Detail}")]
    public static partial void CallRejected(ILogger logger, string method, StatusCode statusCode, string detail);

    [LoggerMessage(2, LogLevel.Information, "{Method} was cancelled.")]
    public static partial void CallCancelled(ILogger logger, string method);

    [LoggerMessage(3, LogLevel.Error, "{Method} failed; error id {ErrorId}.")]
    public static partial void CallFailed(ILogger logger, Exception exception, string method, string errorId);

    [LoggerMessage(4, LogLevel.Information, "Listening on {Address}.")]
    public static partial void Listening(ILogger logger, string address);

    [LoggerMessage(8, LogLevel.Information, "Serving {Listener} over HTTP/1.1 at {Url}.")]
    public static partial void ServingHttp1(ILogger logger, string listener, string url);

    [LoggerMessage(7, LogLevel.Warning, "Standard input closed (the launcher is gone); stopping.")]
    public static partial void StdinClosed(ILogger logger);
}
