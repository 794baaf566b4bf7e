using Grpc.Core;

namespace Muse.Testing;

/// <summary>
/// A <see cref="ServerCallContext"/> for calling a service override directly in a unit test (no network).
/// Headers written by the service are kept in <see cref="ResponseHeaders"/>.
/// </summary>
public sealed class TestServerCallContext : ServerCallContext
{
    private readonly Metadata _requestHeaders;
    private readonly CancellationToken _cancellationToken;
    private readonly Metadata _responseTrailers = [];
    private readonly AuthContext _authContext = new(null, []);
    private readonly Dictionary<object, object> _userState = [];
    private Status _status;
    private WriteOptions? _writeOptions;

    private TestServerCallContext(string method, Metadata requestHeaders, CancellationToken cancellationToken)
    {
        MethodName = method;
        _requestHeaders = requestHeaders;
        _cancellationToken = cancellationToken;
    }

    /// <summary>Headers the service sent with <see cref="ServerCallContext.WriteResponseHeadersAsync"/>.</summary>
    public Metadata? ResponseHeaders { get; private set; }

    /// <summary>The full method name, e.g. <c>/muse.v1.TextEncoder/Encode</c>.</summary>
    public string MethodName { get; }

    /// <summary>Creates a context; <paramref name="cancellationToken"/> plays the client's cancellation.</summary>
    public static TestServerCallContext Create(
        string method = "/test/Method", Metadata? requestHeaders = null, CancellationToken cancellationToken = default) =>
        new(method, requestHeaders ?? [], cancellationToken);

    /// <inheritdoc/>
    protected override string MethodCore => MethodName;

    /// <inheritdoc/>
    protected override string HostCore => "127.0.0.1";

    /// <inheritdoc/>
    protected override string PeerCore => "ipv4:127.0.0.1:1";

    /// <inheritdoc/>
    protected override DateTime DeadlineCore => DateTime.MaxValue;

    /// <inheritdoc/>
    protected override Metadata RequestHeadersCore => _requestHeaders;

    /// <inheritdoc/>
    protected override CancellationToken CancellationTokenCore => _cancellationToken;

    /// <inheritdoc/>
    protected override Metadata ResponseTrailersCore => _responseTrailers;

    /// <inheritdoc/>
    protected override Status StatusCore
    {
        get => _status;
        set => _status = value;
    }

    /// <inheritdoc/>
    protected override WriteOptions? WriteOptionsCore
    {
        get => _writeOptions;
        set => _writeOptions = value;
    }

    /// <inheritdoc/>
    protected override AuthContext AuthContextCore => _authContext;

    /// <inheritdoc/>
    protected override IDictionary<object, object> UserStateCore => _userState;

    /// <inheritdoc/>
    protected override ContextPropagationToken CreatePropagationTokenCore(ContextPropagationOptions? options) =>
        throw new NotSupportedException("Context propagation is not available in unit tests.");

    /// <inheritdoc/>
    protected override Task WriteResponseHeadersAsyncCore(Metadata responseHeaders)
    {
        ResponseHeaders = responseHeaders;
        return Task.CompletedTask;
    }
}
