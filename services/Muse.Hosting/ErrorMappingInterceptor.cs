using Grpc.Core;
using Grpc.Core.Interceptors;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Muse.Hosting.Security;

namespace Muse.Hosting;

/// <summary>
/// Maps exceptions escaping a service method to gRPC statuses, once for every service of the process, and logs
/// them. <see cref="RpcException"/> passes through; <see cref="ArgumentException"/> →
/// <see cref="StatusCode.InvalidArgument"/> with its message; <see cref="MuseException"/> → its own status;
/// <see cref="OperationCanceledException"/> → <see cref="StatusCode.Cancelled"/>; anything else →
/// <see cref="StatusCode.Internal"/> with a generic message (named by <see cref="ErrorMappingOptions"/>, e.g.
/// "Inference failed" for ONNX Runtime in stage processes) and an error id that points at the full exception in
/// the log: internals never reach the client. Every status leaves bounded (<see cref="BoundedStatus"/>): a detail that
/// quotes a huge request field would outgrow the peer's header limit and never arrive.
/// </summary>
public sealed class ErrorMappingInterceptor(ILogger<ErrorMappingInterceptor> logger, IOptions<ErrorMappingOptions> options) : Interceptor
{
    /// <inheritdoc/>
    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(
        TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            return await continuation(request, context);
        }
        catch (Exception ex) when (Map(ex, context) is { } mapped)
        {
            throw mapped;
        }
    }

    /// <inheritdoc/>
    public override async Task<TResponse> ClientStreamingServerHandler<TRequest, TResponse>(
        IAsyncStreamReader<TRequest> requestStream, ServerCallContext context,
        ClientStreamingServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            return await continuation(requestStream, context);
        }
        catch (Exception ex) when (Map(ex, context) is { } mapped)
        {
            throw mapped;
        }
    }

    /// <inheritdoc/>
    public override async Task ServerStreamingServerHandler<TRequest, TResponse>(
        TRequest request, IServerStreamWriter<TResponse> responseStream, ServerCallContext context,
        ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            await continuation(request, responseStream, context);
        }
        catch (Exception ex) when (Map(ex, context) is { } mapped)
        {
            throw mapped;
        }
    }

    /// <inheritdoc/>
    public override async Task DuplexStreamingServerHandler<TRequest, TResponse>(
        IAsyncStreamReader<TRequest> requestStream, IServerStreamWriter<TResponse> responseStream,
        ServerCallContext context, DuplexStreamingServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            await continuation(requestStream, responseStream, context);
        }
        catch (Exception ex) when (Map(ex, context) is { } mapped)
        {
            throw mapped;
        }
    }

    /// <summary>The status exception to throw instead of <paramref name="exception"/>, or null to rethrow it as is.</summary>
    private RpcException? Map(Exception exception, ServerCallContext context)
    {
        var method = context.Method;
        switch (exception)
        {
            case RpcException rpc:
                HostingLog.CallRejected(logger, method, rpc.StatusCode, BoundedText.Truncate(rpc.Status.Detail ?? ""));
                return BoundedStatus.Bound(rpc);
            case MuseException muse:
                HostingLog.CallRejected(logger, method, muse.StatusCode, BoundedText.Truncate(muse.Message));
                return new RpcException(new Status(muse.StatusCode, BoundedText.Truncate(muse.Message)));
            case ArgumentException argument:
                HostingLog.CallRejected(logger, method, StatusCode.InvalidArgument, BoundedText.Truncate(argument.Message));
                return new RpcException(new Status(StatusCode.InvalidArgument, BoundedText.Truncate(argument.Message)));
            case OperationCanceledException:
                HostingLog.CallCancelled(logger, method);
                return new RpcException(new Status(StatusCode.Cancelled, "The call was cancelled."));
            default:
                // Messages of internal failures (ONNX Runtime's name files and nodes) stay in the log.
                var errorId = Guid.NewGuid().ToString("N")[..12];
                HostingLog.CallFailed(logger, exception, method, errorId);
                var what = options.Value.Describe(exception);
                return new RpcException(new Status(StatusCode.Internal, $"{what}; error id {errorId}."));
        }
    }
}

/// <summary>
/// How <see cref="ErrorMappingInterceptor"/> names internal failures to clients: by exception type (the nearest
/// registered base type wins), else "Internal error". Stage processes register their runtime's exceptions.
/// </summary>
public sealed class ErrorMappingOptions
{
    /// <summary>Exception type → the words a client sees before the error id, e.g. "Inference failed".</summary>
    public Dictionary<Type, string> InternalErrorNames { get; } = [];

    /// <summary>The words for <paramref name="exception"/>.</summary>
    public string Describe(Exception exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        for (var type = exception.GetType(); type is not null; type = type.BaseType)
        {
            if (InternalErrorNames.TryGetValue(type, out var name))
            {
                return name;
            }
        }

        return "Internal error";
    }
}
