using System.Diagnostics;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Muse.Hosting.Security;

namespace Muse.Orchestrator.Security;

/// <summary>
/// Every call but health checks needs a valid API key when keys are configured (<see cref="MuseAccess"/>), else fails
/// with <see cref="StatusCode.Unauthenticated"/> before the service runs. An interceptor, so gRPC calls and any
/// transcoded (HTTP/JSON) calls of the same services get the same check. Accepted calls log under a scope with the
/// key's name (never the key) and tag the current trace with it.
/// </summary>
public sealed class ApiKeyInterceptor(MuseAccess access, ILogger<ApiKeyInterceptor> logger) : Interceptor
{
    /// <summary>Trace tag and log scope field holding the caller's key name.</summary>
    public const string KeyNameTag = "muse.api_key";

    /// <inheritdoc/>
    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(
        TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        using var scope = Admit(context);
        return await continuation(request, context);
    }

    /// <inheritdoc/>
    public override async Task<TResponse> ClientStreamingServerHandler<TRequest, TResponse>(
        IAsyncStreamReader<TRequest> requestStream, ServerCallContext context, ClientStreamingServerMethod<TRequest, TResponse> continuation)
    {
        using var scope = Admit(context);
        return await continuation(requestStream, context);
    }

    /// <inheritdoc/>
    public override async Task ServerStreamingServerHandler<TRequest, TResponse>(
        TRequest request, IServerStreamWriter<TResponse> responseStream, ServerCallContext context,
        ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        using var scope = Admit(context);
        await continuation(request, responseStream, context);
    }

    /// <inheritdoc/>
    public override async Task DuplexStreamingServerHandler<TRequest, TResponse>(
        IAsyncStreamReader<TRequest> requestStream, IServerStreamWriter<TResponse> responseStream, ServerCallContext context,
        DuplexStreamingServerMethod<TRequest, TResponse> continuation)
    {
        using var scope = Admit(context);
        await continuation(requestStream, responseStream, context);
    }

    private IDisposable? Admit(ServerCallContext context)
    {
        if (InternalTokenInterceptor.IsOpen(context.Method))
        {
            return null;
        }

        var check = access.Check(context.GetHttpContext());
        if (check.Failure is { } failure)
        {
            OrchestratorSecurityLog.CallRefused(logger, context.Method, context.Peer, failure);
            throw new RpcException(new Status(StatusCode.Unauthenticated, failure));
        }

        var name = check.Key?.Name ?? MuseAccess.Anonymous;
        Activity.Current?.SetTag(KeyNameTag, name);
        return logger.BeginScope(new Dictionary<string, object> { [KeyNameTag] = name });
    }
}
