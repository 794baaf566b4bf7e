using System.Runtime.CompilerServices;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.Options;
using Muse.Protos.V1;
using Muse.Repository;
using Polly;
using Polly.Registry;

namespace Muse.Orchestrator.Replicas;

/// <summary>
/// Calls to the stage services: replica discovery (StageInfo), round-robin over the replicas that hold the
/// requested model version, retries of idempotent unary calls on the next replica, and decode streams.
/// </summary>
/// <remarks>Singleton; owns the channels.</remarks>
public sealed class StageClients : IStageGateway, IDisposable
{
    private readonly Dictionary<string, StageReplica[]> _replicas;
    private readonly Dictionary<string, StrongBox<int>> _roundRobin;
    private readonly ResiliencePipeline _unary;
    private readonly TimeProvider _time;
    private readonly TimeSpan _discoveryTimeout;
    private readonly ILogger<StageClients> _logger;

    /// <summary>Creates one channel per configured replica URL.</summary>
    public StageClients(
        IOptions<OrchestratorOptions> options,
        IOptions<StageResilienceOptions> resilience,
        ResiliencePipelineProvider<string> pipelines,
        TimeProvider time,
        ILogger<StageClients> logger)
    {
        _unary = pipelines.GetPipeline(StagePipelines.Unary);
        _time = time;
        // A replica's first answer includes its warm-up (JIT, first session run); give it a whole attempt's time.
        _discoveryTimeout = resilience.Value.AttemptTimeout;
        _logger = logger;
        _replicas = options.Value.Stages.ToDictionary(
            s => s.Key,
            s => s.Value.Endpoints.Select(url => new StageReplica(s.Key, url, GrpcChannel.ForAddress(url, new GrpcChannelOptions
            {
                MaxReceiveMessageSize = 64 * 1024 * 1024,
                MaxSendMessageSize = 64 * 1024 * 1024,
            }))).ToArray(),
            StringComparer.Ordinal);
        _roundRobin = _replicas.Keys.ToDictionary(k => k, _ => new StrongBox<int>(-1), StringComparer.Ordinal);
    }

    /// <summary>Replicas configured for a stage.</summary>
    public IReadOnlyList<StageReplica> Replicas(string stage) => _replicas.TryGetValue(stage, out var r) ? r : [];

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
    /// Opens a decode stream on a replica holding <paramref name="model"/> that is not in <paramref name="excluded"/>,
    /// and sends the conditioning. Failures of the stream surface on the first step.
    /// </summary>
    /// <remarks>The caller owns the returned stream and must dispose it.</remarks>
    public async Task<IReplicaSampler> OpenSamplerAsync(
        ModelManifest model, Conditioning conditioning, IReadOnlySet<string> excluded, DateTime? deadline, CancellationToken ct)
    {
        var replica = await PickAsync(model, excluded, ct);
        return await ReplicaSampler.OpenAsync(replica, model, conditioning, deadline, ct);
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        foreach (var replica in _replicas.Values.SelectMany(r => r))
        {
            replica.Dispose();
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
            try
            {
                return await call(replica.Channel, new CallOptions(deadline: deadline, cancellationToken: token));
            }
            catch (RpcException ex) when (StageErrors.IsTransient(ex))
            {
                replica.Invalidate();
                OrchestratorLog.ReplicaCallFailed(_logger, replica.Stage, replica.Endpoint, ex.StatusCode.ToString(), ex.Status.Detail);
                throw;
            }
        }, ct);
    }

    // Round-robin over the replicas that hold the model; replicas already tried for this call are skipped while
    // others remain (so retries move on), then allowed again (a restarted replica may be back).
    private async Task<StageReplica> PickAsync(ModelManifest model, IReadOnlySet<string> excluded, CancellationToken ct)
    {
        var all = Replicas(model.Stage);
        if (all.Count == 0)
        {
            throw new RpcException(new Status(StatusCode.FailedPrecondition, $"No replica is configured for stage '{model.Stage}'."));
        }

        foreach (var replica in all.Where(r => r.Models is null))
        {
            try
            {
                await replica.RefreshAsync(_time.GetUtcNow().UtcDateTime.Add(_discoveryTimeout), ct);
            }
            catch (RpcException ex) when (!ct.IsCancellationRequested)
            {
                OrchestratorLog.ReplicaCallFailed(_logger, replica.Stage, replica.Endpoint, ex.StatusCode.ToString(), ex.Status.Detail);
            }
        }

        var holders = all.Where(r => r.Models?.Contains(model.Id) == true).ToList();
        if (holders.Count == 0)
        {
            var reachable = all.Any(r => r.Models is not null);
            throw new RpcException(reachable
                ? new Status(StatusCode.FailedPrecondition, $"No {model.Stage} replica has model {model.Id} loaded.")
                : new Status(StatusCode.Unavailable, $"No {model.Stage} replica is reachable."));
        }

        var fresh = holders.Where(r => !excluded.Contains(r.Endpoint)).ToList();
        var pool = fresh.Count > 0 ? fresh : holders;
        // Each stage has its own counter, starting at the first replica, so consecutive requests alternate replicas.
        var next = (uint)Interlocked.Increment(ref _roundRobin[model.Stage].Value);
        return pool[(int)(next % (uint)pool.Count)];
    }
}
