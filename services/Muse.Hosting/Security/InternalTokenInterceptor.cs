using Grpc.Core;
using Grpc.Core.Interceptors;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Muse.Hosting.Security;

/// <summary>
/// Stage processes are internal: with <see cref="MuseSecurityOptions.InternalToken"/> set, every call must carry it
/// (<c>authorization: Bearer TOKEN</c>, which the orchestrator sends) or fails with <see cref="StatusCode.Unauthenticated"/>
/// before the service runs. <c>grpc.health.v1</c> stays open so probes need no secret. Without a token it lets
/// everything through (local use; <c>muse up</c> always sets one).
/// </summary>
public sealed class InternalTokenInterceptor(IOptions<MuseSecurityOptions> options, ILogger<InternalTokenInterceptor> logger) : Interceptor
{
    private readonly string? _token = string.IsNullOrEmpty(options.Value.InternalToken) ? null : options.Value.InternalToken;

    /// <inheritdoc/>
    public override Task<TResponse> UnaryServerHandler<TRequest, TResponse>(
        TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        Check(context);
        return continuation(request, context);
    }

    /// <inheritdoc/>
    public override Task<TResponse> ClientStreamingServerHandler<TRequest, TResponse>(
        IAsyncStreamReader<TRequest> requestStream, ServerCallContext context, ClientStreamingServerMethod<TRequest, TResponse> continuation)
    {
        Check(context);
        return continuation(requestStream, context);
    }

    /// <inheritdoc/>
    public override Task ServerStreamingServerHandler<TRequest, TResponse>(
        TRequest request, IServerStreamWriter<TResponse> responseStream, ServerCallContext context,
        ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        Check(context);
        return continuation(request, responseStream, context);
    }

    /// <inheritdoc/>
    public override Task DuplexStreamingServerHandler<TRequest, TResponse>(
        IAsyncStreamReader<TRequest> requestStream, IServerStreamWriter<TResponse> responseStream, ServerCallContext context,
        DuplexStreamingServerMethod<TRequest, TResponse> continuation)
    {
        Check(context);
        return continuation(requestStream, responseStream, context);
    }

    /// <summary>True for the methods every caller may use: the standard health service.</summary>
    public static bool IsOpen(string method) => method.StartsWith("/grpc.health.v1.Health/", StringComparison.Ordinal);

    private void Check(ServerCallContext context)
    {
        if (_token is null || IsOpen(context.Method))
        {
            return;
        }

        var presented = BearerToken.Read(context.RequestHeaders);
        if (!BearerToken.Matches(presented, _token))
        {
            // The peer is logged, never what it presented.
            SecurityLog.InternalCallRefused(logger, context.Method, context.Peer, presented is null ? "no credential" : "a wrong credential");
            throw new RpcException(new Status(StatusCode.Unauthenticated,
                "This stage service is internal: calls need the cluster credential (Muse:Security:InternalToken) that the orchestrator presents."));
        }
    }
}
