using Grpc.Core;
using Muse.Decoding;
using Muse.Protos;
using Muse.Protos.V1;
using Muse.Repository;

namespace Muse.Orchestrator.Replicas;

/// <summary>
/// A TokenTransformer.Decode stream on one replica, seen by the decoding loop as an <see cref="ITokenSampler"/>:
/// each step sends the current tokens and reads back sampled tokens and their confidence, within the step timeout.
/// </summary>
/// <remarks>
/// Owns the call and a lease on the replica's load count; dispose it to end the stream (which also stops the
/// replica's work on it) and release the lease.
/// </remarks>
public sealed class ReplicaSampler : IReplicaSampler
{
    private readonly AsyncDuplexStreamingCall<DecodeRequest, DecodeReply> _call;
    private readonly ModelManifest _model;
    private readonly IDisposable _lease;
    private readonly Action<StageReplica, string> _markDown;
    private readonly TimeSpan _stepTimeout;
    private readonly TimeProvider _time;

    private ReplicaSampler(
        StageReplica replica,
        ModelManifest model,
        AsyncDuplexStreamingCall<DecodeRequest, DecodeReply> call,
        IDisposable lease,
        Action<StageReplica, string> markDown,
        TimeSpan stepTimeout,
        TimeProvider time)
    {
        Replica = replica;
        _model = model;
        _call = call;
        _lease = lease;
        _markDown = markDown;
        _stepTimeout = stepTimeout;
        _time = time;
    }

    /// <summary>The replica this stream runs on.</summary>
    public StageReplica Replica { get; }

    /// <inheritdoc/>
    public string Endpoint => Replica.Endpoint;

    /// <inheritdoc/>
    public void MarkFailed() => _markDown(Replica, "decode stream failed");

    /// <summary>
    /// Opens the stream and sends the conditioning, counting the stream in the replica's load until disposed.
    /// <paramref name="markDown"/> is what <see cref="MarkFailed"/> calls; <paramref name="stepTimeout"/> bounds the
    /// conditioning and each step (on <paramref name="time"/>).
    /// </summary>
    /// <remarks>The caller owns the returned stream and must dispose it.</remarks>
    public static async Task<ReplicaSampler> OpenAsync(
        StageReplica replica,
        ModelManifest model,
        Conditioning conditioning,
        Action<StageReplica, string> markDown,
        TimeSpan stepTimeout,
        TimeProvider time,
        DateTime? deadline,
        CancellationToken ct)
    {
        var lease = replica.Acquire();
        AsyncDuplexStreamingCall<DecodeRequest, DecodeReply> call;
        try
        {
            call = new TokenTransformer.TokenTransformerClient(replica.Channel).Decode(deadline: deadline, cancellationToken: ct);
        }
        catch
        {
            lease.Dispose();
            throw;
        }

        var stream = new ReplicaSampler(replica, model, call, lease, markDown, stepTimeout, time);
        try
        {
            await stream.WithinStepTimeoutAsync("the conditioning", async token =>
            {
                await call.RequestStream.WriteAsync(new DecodeRequest { Conditioning = conditioning }, token);
                return true;
            }, ct);
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
        IReadOnlyList<TokenState> states, int step, int steps, float guidanceScale, float samplingTemperature, bool committedConfidence, CancellationToken ct)
    {
        var request = new DecodeRequest { Step = DecodeSteps.Create(_model, states, step, steps, guidanceScale, samplingTemperature, committedConfidence) };
        var answered = await WithinStepTimeoutAsync($"step {step}", async token =>
        {
            await _call.RequestStream.WriteAsync(request, token);
            return await _call.ResponseStream.MoveNext(token);
        }, ct);
        if (!answered)
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
        finally
        {
            // Whatever ending the stream threw, the replica's load count must drop, or it would look busy for ever.
            _call.Dispose();
            _lease.Dispose();
        }
    }

    // A frozen replica (stopped process, hung host) keeps its connection open and answers nothing: without this bound
    // the decode would wait for the client's deadline, or for ever. Cancelling the token also cancels the call.
    private async Task<T> WithinStepTimeoutAsync<T>(string what, Func<CancellationToken, Task<T>> action, CancellationToken ct)
    {
        using var timer = new CancellationTokenSource(_stepTimeout, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, timer.Token);
        try
        {
            return await action(linked.Token);
        }
        catch (Exception ex) when ((ex is RpcException or OperationCanceledException) && timer.IsCancellationRequested && !ct.IsCancellationRequested)
        {
            // UNAVAILABLE, like a lost replica: the decode moves on and resumes at this step elsewhere.
            throw new RpcException(new Status(
                StatusCode.Unavailable, $"Replica {Replica.Endpoint} did not answer {what} within {_stepTimeout.TotalMilliseconds:F0} ms."));
        }
    }
}
