using Grpc.Core;

namespace Muse.Orchestrator.Replicas;

/// <summary>Which stage failures are worth another attempt (on another replica).</summary>
public static class StageErrors
{
    /// <summary>
    /// Unavailable (replica down, connection refused or reset) and Aborted are transient; everything else is an
    /// answer — a bad request stays bad on every replica, and a cancelled caller wants no retry.
    /// </summary>
    public static bool IsTransient(RpcException ex) =>
        ex.StatusCode is StatusCode.Unavailable or StatusCode.Aborted
        || (ex.StatusCode == StatusCode.Internal && ex.Status.DebugException is IOException or System.Net.Http.HttpRequestException);
}
