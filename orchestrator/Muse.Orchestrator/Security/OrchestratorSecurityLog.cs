namespace Muse.Orchestrator.Security;

/// <summary>Log messages of the orchestrator's access control. Keys are never logged; key names are.</summary>
internal static partial class OrchestratorSecurityLog
{
    [LoggerMessage(40, LogLevel.Information, "API keys loaded from {Path}: {Live} live key(s).")]
    public static partial void KeysLoaded(ILogger logger, string path, int live);

    [LoggerMessage(41, LogLevel.Error, "API key file {Path} refused; the last good keys stay in force: {Reason}")]
    public static partial void KeysRefused(ILogger logger, string path, string reason);

    [LoggerMessage(42, LogLevel.Warning, "{Method} from {Peer} refused: {Reason}")]
    public static partial void CallRefused(ILogger logger, string method, string peer, string reason);

    [LoggerMessage(43, LogLevel.Information, "{Method} for key {ApiKey} shed by its limits ({Limit}).")]
    public static partial void CallLimited(ILogger logger, string method, string apiKey, string limit);

    [LoggerMessage(44, LogLevel.Warning, "Anonymous access on a non-loopback address ({Addresses}) because Muse:Security:AllowAnonymous is set.")]
    public static partial void AnonymousAllowed(ILogger logger, string addresses);
}
