using Grpc.Core;
using Muse.Decoding;
using Muse.Protos;
using Muse.Protos.V1;
using Muse.Repository;

namespace Muse.Orchestrator.Replicas;

/// <summary>
/// A TokenTransformer.Decode stream on one replica, seen by the decoding loop as an <see cref="ITokenSampler"/>:
/// each step sends the current tokens and reads back sampled tokens and their confidence.
/// </summary>
/// <remarks>Owns the call; dispose it to end the stream (which also stops the replica's work on it).</remarks>
public sealed class ReplicaSampler : IReplicaSampler
{
    private readonly AsyncDuplexStreamingCall<DecodeRequest, DecodeReply> _call;
    private readonly ModelManifest _model;

    private ReplicaSampler(StageReplica replica, ModelManifest model, AsyncDuplexStreamingCall<DecodeRequest, DecodeReply> call)
    {
        Replica = replica;
        _model = model;
        _call = call;
    }

    /// <summary>The replica this stream runs on.</summary>
    public StageReplica Replica { get; }

    /// <inheritdoc/>
    public string Endpoint => Replica.Endpoint;

    /// <inheritdoc/>
    public void MarkFailed() => Replica.Invalidate();

    /// <summary>Opens the stream and sends the conditioning.</summary>
    public static async Task<ReplicaSampler> OpenAsync(
        StageReplica replica, ModelManifest model, Conditioning conditioning, DateTime? deadline, CancellationToken ct)
    {
        var call = new TokenTransformer.TokenTransformerClient(replica.Channel).Decode(deadline: deadline, cancellationToken: ct);
        var stream = new ReplicaSampler(replica, model, call);
        try
        {
            await call.RequestStream.WriteAsync(new DecodeRequest { Conditioning = conditioning }, ct);
            return stream;
        }
        catch
        {
            await stream.DisposeAsync();
            throw;
        }
    }

    /// <inheritdoc/>
    public async ValueTask<SampledTokens> SampleAsync(
        IReadOnlyList<TokenState> states, int step, int steps, float guidanceScale, float samplingTemperature, CancellationToken ct)
    {
        var length = _model.GridHeight * _model.GridWidth;
        var tokens = new int[states.Count * length];   // [batch, h*w]
        for (var i = 0; i < states.Count; i++)
        {
            states[i].Tokens.CopyTo(tokens, i * length);
        }

        await _call.RequestStream.WriteAsync(new DecodeRequest
        {
            Step = new DecodeStep
            {
                Tokens = TensorConvert.FromInt32(tokens, states.Count, _model.GridHeight, _model.GridWidth),
                Step = step,
                Steps = steps,
                GuidanceScale = guidanceScale,
                SamplingTemperature = samplingTemperature,
            },
        }, ct);

        if (!await _call.ResponseStream.MoveNext(ct))
        {
            // The replica closed the stream without an error status: treat it like a lost replica.
            throw new RpcException(new Status(StatusCode.Unavailable, $"Replica {Replica.Endpoint} ended the decode stream at step {step}."));
        }

        var reply = _call.ResponseStream.Current;
        if (reply.Step != step)
        {
            throw new RpcException(new Status(StatusCode.Internal, $"Replica {Replica.Endpoint} answered step {reply.Step} to step {step}."));
        }

        try
        {
            return new SampledTokens(
                states.Count,
                TensorConvert.ToInt32(reply.Tokens, "reply.tokens"),
                TensorConvert.ToFloat32(reply.Confidence, "reply.confidence"));
        }
        catch (ArgumentException ex)
        {
            throw new RpcException(new Status(StatusCode.Internal, $"Replica {Replica.Endpoint} sent a malformed reply: {ex.Message}"));
        }
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        try
        {
            await _call.RequestStream.CompleteAsync();
        }
        catch (Exception ex) when (ex is RpcException or InvalidOperationException or IOException or OperationCanceledException)
        {
            // The stream is already broken or finished; disposing the call below releases it either way.
        }

        _call.Dispose();
    }
}
