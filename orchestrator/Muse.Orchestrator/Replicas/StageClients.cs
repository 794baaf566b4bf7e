using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.Options;
using Muse.Hosting.Security;
using Muse.Protos.V1;
using Muse.Repository;
using Polly;
using Polly.Registry;

namespace Muse.Orchestrator.Replicas;

/// <summary>
/// Calls to the stage services: the replicas of each stage (configured URLs and re-resolved <c>dns:///</c> names),
/// least-loaded choice among those that hold the requested model version, marking replicas down on failure and
/// probing them back, retries of idempotent unary calls on the next replica, and decode streams.
/// </summary>
/// <remarks>Singleton; owns the replicas and their channels, and the background resolution and probes.</remarks>
public sealed class StageClients : IStageGateway, IDisposable
{
    private static readonly IReadOnlyDictionary<string, StageReplica[]> NoReplicas = new Dictionary<string, StageReplica[]>();

    private readonly IOptionsMonitor<OrchestratorOptions> _options;
    private readonly StageResilienceOptions _resilience;
    private readonly ResiliencePipeline _unary;
    private readonly IReplicaResolver _resolver;
    private readonly IReplicaProbe _probe;
    private readonly TimeProvider _time;
    private readonly ILogger<StageClients> _logger;
    private readonly SemaphoreSlim _refreshing = new(1, 1);
    private readonly Dictionary<string, IReadOnlyList<string>> _lastResolved = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, StrongBox<int>> _ties = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stopping = new();
    private readonly ITimer _resolveTimer;
    private readonly IDisposable? _configurationChanges;
    private readonly Task _firstRefresh;
    private readonly string? _internalToken;
    private IReadOnlyDictionary<string, StageReplica[]> _replicas = NoReplicas;

    /// <summary>
    /// Creates the replicas of every configured stage (resolving <c>dns:///</c> endpoints in the background), then
    /// follows configuration changes and re-resolves every <see cref="StageResilienceOptions.ResolveInterval"/>. Every call
    /// presents <see cref="MuseSecurityOptions.InternalToken"/> when <paramref name="security"/> sets one.
    /// </summary>
    public StageClients(
        IOptionsMonitor<OrchestratorOptions> options,
        IOptions<StageResilienceOptions> resilience,
        ResiliencePipelineProvider<string> pipelines,
        IReplicaResolver resolver,
        IReplicaProbe probe,
        TimeProvider time,
        ILogger<StageClients> logger,
        IOptions<MuseSecurityOptions>? security = null)
    {
        _options = options;
        _internalToken = security?.Value.InternalToken is { Length: > 0 } token ? token : null;
        _resilience = resilience.Value;
        _unary = pipelines.GetPipeline(StagePipelines.Unary);
        _resolver = resolver;
        _probe = probe;
        _time = time;
        _logger = logger;
        // With URLs only this completes here, so the replicas exist when the constructor returns.
        _firstRefresh = RefreshEndpointsAsync(_stopping.Token);
        _resolveTimer = time.CreateTimer(static self => ((StageClients)self!).RefreshInBackground(), this, _resilience.ResolveInterval, _resilience.ResolveInterval);
        _configurationChanges = options.OnChange((_, _) => RefreshInBackground());
    }

    /// <summary>The current replicas of a stage, in configuration (then address) order.</summary>
    public IReadOnlyList<StageReplica> Replicas(string stage) => Volatile.Read(ref _replicas).TryGetValue(stage, out var r) ? r : [];

    /// <summary>TextEncoder.Encode on a replica holding <paramref name="model"/>.</summary>
    public Task<EncodeReply> EncodeAsync(ModelManifest model, IEnumerable<string> texts, DateTime? deadline, CancellationToken ct)
    {
        var request = new EncodeRequest { Model = model.Id };
        request.Texts.AddRange(texts);
        return UnaryAsync(model, deadline, (channel, options) => new TextEncoder.TextEncoderClient(channel).EncodeAsync(request, options), ct);
    }

    /// <summary>ImageTokenizer.Detokenize on a replica holding <paramref name="model"/>.</summary>
    public Task<DetokenizeReply> DetokenizeAsync(ModelManifest model, Tensor tokens, PixelEncoding encoding, DateTime? deadline, CancellationToken ct)
    {
        var request = new DetokenizeRequest { Model = model.Id, Tokens = tokens, Encoding = encoding };
        return UnaryAsync(model, deadline, (channel, options) => new ImageTokenizer.ImageTokenizerClient(channel).DetokenizeAsync(request, options), ct);
    }

    /// <summary>ImageTokenizer.Tokenize on a replica holding <paramref name="model"/>.</summary>
    public Task<TokenizeReply> TokenizeAsync(ModelManifest model, ReadOnlyMemory<byte> image, DateTime? deadline, CancellationToken ct)
    {
        var request = new TokenizeRequest { Model = model.Id, Image = Google.Protobuf.ByteString.CopyFrom(image.Span) };
        return UnaryAsync(model, deadline, (channel, options) => new ImageTokenizer.ImageTokenizerClient(channel).TokenizeAsync(request, options), ct);
    }

    /// <summary>
    /// Opens a decode stream on the least-loaded replica holding <paramref name="model"/> that is not in
    /// <paramref name="excluded"/> (when another exists), and sends the conditioning. A replica that cannot take the
    /// conditioning (connection refused, reset, no answer within the step timeout) is marked down and the next one
    /// tried at once; other failures of the stream surface on the first step.
    /// </summary>
    /// <remarks>The caller owns the returned stream and must dispose it.</remarks>
    public async Task<IReplicaSampler> OpenSamplerAsync(
        ModelManifest model, Conditioning conditioning, IReadOnlySet<string> excluded, DateTime? deadline, CancellationToken ct)
    {
        var tried = new HashSet<string>(excluded, StringComparer.Ordinal);
        while (true)
        {
            var replica = await PickAsync(model, tried, ct);
            try
            {
                return await ReplicaSampler.OpenAsync(replica, model, conditioning, MarkDown, _resilience.StepTimeout, _time, deadline, ct);
            }
            catch (RpcException ex) when (StageErrors.IsTransient(ex) && !ct.IsCancellationRequested && tried.Add(replica.Endpoint))
            {
                // Each replica once: the next pick prefers untried replicas that are up, and a tried one that is down
                // is never picked again, so this loop ends.
                OrchestratorLog.ReplicaCallFailed(_logger, replica.Stage, replica.Endpoint, ex.StatusCode.ToString(), ex.Status.Detail);
                MarkDown(replica, ex.StatusCode.ToString());
            }
        }
    }

    /// <summary>
    /// Marks <paramref name="replica"/> down: it gets no work while another replica can take it, and is probed (health
    /// <c>ready</c>, then StageInfo) after <see cref="StageResilienceOptions.ProbeDelay"/>, doubling up to
    /// <see cref="StageResilienceOptions.MaxProbeDelay"/>, until it serves again. A no-op when it is already down.
    /// </summary>
    public void MarkDown(StageReplica replica, string reason)
    {
        ArgumentNullException.ThrowIfNull(replica);
        if (replica.IsRetired || !replica.MarkDown())
        {
            return;
        }

        ReplicaLog.ReplicaDown(_logger, replica.Stage, replica.Endpoint, reason);
        _ = ProbeUntilUpAsync(replica);
    }

    /// <summary>
    /// Reads the endpoint lists again and resolves every <c>dns:///</c> name: new addresses become replicas (asked
    /// what they hold before their first use), vanished ones are retired once their work is done, the others keep
    /// their state. A name that does not resolve keeps its last addresses.
    /// </summary>
    public async Task RefreshEndpointsAsync(CancellationToken ct)
    {
        await _refreshing.WaitAsync(ct);
        try
        {
            var current = Volatile.Read(ref _replicas);
            var next = new Dictionary<string, StageReplica[]>(StringComparer.Ordinal);
            foreach (var (stage, configured) in _options.CurrentValue.Stages)
            {
                var urls = new List<string>();
                foreach (var endpoint in configured.Endpoints)
                {
                    urls.AddRange(await ResolveAsync(stage, endpoint, ct));
                }

                var existing = current.GetValueOrDefault(stage) ?? [];
                next[stage] = [.. urls.Distinct(StringComparer.Ordinal).Select(url =>
                    existing.FirstOrDefault(r => r.Endpoint == url) ?? new StageReplica(stage, url, CreateChannel(url, _internalToken)))];
                var added = next[stage].Except(existing).Select(r => r.Endpoint).ToList();
                var removed = existing.Except(next[stage]).Select(r => r.Endpoint).ToList();
                if (added.Count + removed.Count > 0 && current != NoReplicas)
                {
                    ReplicaLog.ReplicasChanged(_logger, stage, Describe(added), Describe(removed));
                }
            }

            Volatile.Write(ref _replicas, next);
            foreach (var gone in current.Values.SelectMany(r => r).Except(next.Values.SelectMany(r => r)))
            {
                gone.Retire();
            }
        }
        finally
        {
            _refreshing.Release();
        }
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        _stopping.Cancel();
        _resolveTimer.Dispose();
        _configurationChanges?.Dispose();
        foreach (var replica in Volatile.Read(ref _replicas).Values.SelectMany(r => r))
        {
            replica.Dispose();
        }

        _stopping.Dispose();
    }

    // grpc-dotnet reconnects a lost connection with exponential backoff, from 1 s up to 120 s by default, and fails every
    // call at once while it waits ("Error connecting to subchannel"): a replica down for a minute stayed unusable for
    // minutes after its restart. The orchestrator probes down replicas itself, so the channel may retry often.
    // The cluster credential rides on every call; stage traffic is plaintext inside the cluster (a private network),
    // so call credentials are allowed on insecure channels.
    private static GrpcChannel CreateChannel(string url, string? internalToken) => GrpcChannel.ForAddress(url, new GrpcChannelOptions
    {
        Credentials = internalToken is null
            ? null
            : ChannelCredentials.Create(
                url.StartsWith("https://", StringComparison.OrdinalIgnoreCase) ? ChannelCredentials.SecureSsl : ChannelCredentials.Insecure,
                CallCredentials.FromInterceptor((_, metadata) =>
                {
                    metadata.Add(BearerToken.Header, BearerToken.Format(internalToken));
                    return Task.CompletedTask;
                })),
        UnsafeUseInsecureChannelCallCredentials = true,
        MaxReceiveMessageSize = 64 * 1024 * 1024,
        MaxSendMessageSize = 64 * 1024 * 1024,
        InitialReconnectBackoff = TimeSpan.FromMilliseconds(100),
        MaxReconnectBackoff = TimeSpan.FromSeconds(1),
    });

    private static string Describe(List<string> endpoints) => endpoints.Count == 0 ? "none" : string.Join(", ", endpoints);

    private async Task<IReadOnlyList<string>> ResolveAsync(string stage, string endpoint, CancellationToken ct)
    {
        string host;
        int port;
        try
        {
            if (!ReplicaEndpoints.TryParseDns(endpoint, out host, out port))
            {
                return [endpoint];
            }
        }
        catch (FormatException ex)
        {
            ReplicaLog.ResolveFailed(_logger, stage, endpoint, ex.Message);
            return [];
        }

        try
        {
            var addresses = await _resolver.ResolveAsync(host, ct);
            IReadOnlyList<string> urls = [.. addresses.Select(a => ReplicaEndpoints.Url(a, port))];
            _lastResolved[endpoint] = urls;
            return urls;
        }
        catch (Exception ex) when (ex is SocketException or ArgumentException or TimeoutException)
        {
            ReplicaLog.ResolveFailed(_logger, stage, endpoint, ex.Message);
            return _lastResolved.GetValueOrDefault(endpoint) ?? [];
        }
    }

    private void RefreshInBackground() => _ = RefreshQuietlyAsync();

    private async Task RefreshQuietlyAsync()
    {
        try
        {
            await RefreshEndpointsAsync(_stopping.Token);
        }
        catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException)
        {
            // Shutting down.
        }
    }

    private async Task ProbeUntilUpAsync(StageReplica replica)
    {
        var stopping = _stopping.Token;
        var delay = _resilience.ProbeDelay;
        var wait = Task.Delay(delay, _time, stopping);
        while (!replica.IsRetired)
        {
            try
            {
                await wait;
                var models = await _probe.ProbeAsync(replica, _resilience.ProbeTimeout, stopping);
                replica.MarkUp(models);
                ReplicaLog.ReplicaUp(_logger, replica.Stage, replica.Endpoint, string.Join(", ", models.Order(StringComparer.Ordinal)));
                return;
            }
            catch (Exception ex) when ((ex is OperationCanceledException or ObjectDisposedException) && stopping.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (ex is RpcException or OperationCanceledException or ObjectDisposedException)
            {
                // The next wait starts before the line is logged, so whoever reads the log finds the timer set.
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, _resilience.MaxProbeDelay.Ticks));
                wait = Task.Delay(delay, _time, stopping);
                ReplicaLog.ProbeFailed(_logger, replica.Stage, replica.Endpoint, ex.Message, delay.TotalMilliseconds);
            }
        }
    }

    private async Task<TReply> UnaryAsync<TReply>(
        ModelManifest model, DateTime? deadline, Func<GrpcChannel, CallOptions, AsyncUnaryCall<TReply>> call, CancellationToken ct)
    {
        var tried = new HashSet<string>(StringComparer.Ordinal);
        return await _unary.ExecuteAsync(async token =>
        {
            var replica = await PickAsync(model, tried, token);
            tried.Add(replica.Endpoint);
            using var lease = replica.Acquire();
            try
            {
                return await call(replica.Channel, new CallOptions(deadline: deadline, cancellationToken: token));
            }
            catch (RpcException ex) when (StageErrors.IsTransient(ex))
            {
                OrchestratorLog.ReplicaCallFailed(_logger, replica.Stage, replica.Endpoint, ex.StatusCode.ToString(), ex.Status.Detail);
                MarkDown(replica, ex.StatusCode.ToString());
                throw;
            }
        }, ct);
    }

    // Least loaded among the replicas that hold the model (ReplicaPicker); replicas never asked what they hold are
    // asked first, and one that does not answer is marked down (and probed) like any failed replica.
    private async Task<StageReplica> PickAsync(ModelManifest model, IReadOnlySet<string> excluded, CancellationToken ct)
    {
        await _firstRefresh.WaitAsync(ct);
        var replicas = Replicas(model.Stage);
        if (replicas.Count == 0)
        {
            throw new RpcException(_options.CurrentValue.Stages.ContainsKey(model.Stage)
                ? new Status(StatusCode.Unavailable, $"The endpoints of stage '{model.Stage}' resolve to no replica.")
                : new Status(StatusCode.FailedPrecondition, $"No replica is configured for stage '{model.Stage}'."));
        }

        await Task.WhenAll(replicas.Where(r => r.Models is null && !r.IsDown).Select(r => DiscoverAsync(r, ct)));
        var tie = (uint)Interlocked.Increment(ref _ties.GetOrAdd(model.Stage, _ => new StrongBox<int>(-1)).Value);
        return ReplicaPicker.Pick(replicas, model.Id, excluded, tie)
            ?? throw new RpcException(new Status(StatusCode.Unavailable, $"Every {model.Stage} replica holding {model.Id} is down."));
    }

    private async Task DiscoverAsync(StageReplica replica, CancellationToken ct)
    {
        try
        {
            // A replica's first answer includes its warm-up (JIT, first session run): give it a whole attempt's time.
            replica.MarkUp(await _probe.ProbeAsync(replica, _resilience.AttemptTimeout, ct));
        }
        catch (RpcException ex) when (!ct.IsCancellationRequested)
        {
            OrchestratorLog.ReplicaCallFailed(_logger, replica.Stage, replica.Endpoint, ex.StatusCode.ToString(), ex.Status.Detail);
            MarkDown(replica, ex.StatusCode.ToString());
        }
    }
}
