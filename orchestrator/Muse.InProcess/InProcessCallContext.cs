using Grpc.Core;

namespace Muse.InProcess;

/// <summary>The call context of a stage method invoked directly, without a server: only cancellation is real.</summary>
internal sealed class InProcessCallContext(CancellationToken cancellationToken) : ServerCallContext
{
    protected override string MethodCore => "in-process";
    protected override string HostCore => "localhost";
    protected override string PeerCore => "in-process";
    protected override DateTime DeadlineCore => DateTime.MaxValue;
    protected override Metadata RequestHeadersCore { get; } = [];
    protected override CancellationToken CancellationTokenCore => cancellationToken;
    protected override Metadata ResponseTrailersCore { get; } = [];
    protected override Status StatusCore { get; set; }
    protected override WriteOptions? WriteOptionsCore { get; set; }
    protected override AuthContext AuthContextCore { get; } = new(null, []);

    protected override ContextPropagationToken CreatePropagationTokenCore(ContextPropagationOptions? options) =>
        throw new NotSupportedException();

    protected override Task WriteResponseHeadersAsyncCore(Metadata responseHeaders) => Task.CompletedTask;
}
