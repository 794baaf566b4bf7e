using Grpc.Core;
using Microsoft.Extensions.Options;
using Muse.Inference;
using Muse.Protos;
using Muse.Protos.V1;

namespace Muse.Transformer;

/// <summary>
/// <c>muse.v1.TokenTransformer</c>: one Decode stream per image batch. The first message is the conditioning, kept
/// in a <see cref="DecodeSession"/>; each following step is validated, scheduled and answered by one reply.
/// Streams share nothing but the read-only model, so a failing stream cannot affect another. A stream that sends
/// nothing for <see cref="DecodeStreamOptions.IdleTimeout"/> is closed.
/// </summary>
public sealed class TokenTransformerService(
    ServedModels<TransformerModel> models,
    IStepScheduler scheduler,
    IOptions<DecodeStreamOptions> options,
    TimeProvider time,
    ILogger<TokenTransformerService> logger)
    : TokenTransformer.TokenTransformerBase
{
    /// <inheritdoc/>
    public override async Task Decode(
        IAsyncStreamReader<DecodeRequest> requestStream, IServerStreamWriter<DecodeReply> responseStream, ServerCallContext context)
    {
        var cancellationToken = context.CancellationToken;
        DecodeSession? session = null;
        var stepCount = 0;
        try
        {
            if (!await NextAsync(requestStream, session, stepCount, cancellationToken))
            {
                return;
            }

            var request = requestStream.Current;
            DecodeValidation.Require(
                request.MessageCase == DecodeRequest.MessageOneofCase.Conditioning,
                request.Conditioning,
                "must be the first message of a Decode stream.");
            session = DecodeSession.Open(request.Conditioning, models.Get(request.Conditioning.Model));
            TransformerLog.StreamOpened(logger, session.Model.Id, session.BatchSize);

            while (await NextAsync(requestStream, session, stepCount, cancellationToken))
            {
                request = requestStream.Current;
                DecodeValidation.Require(
                    request.MessageCase == DecodeRequest.MessageOneofCase.Step,
                    request.Step,
                    "is expected: the conditioning is sent once, as the first message.");
                var step = session.ReadStep(request.Step);
                var result = await scheduler.ScheduleAsync(session, step, cancellationToken);
                await responseStream.WriteAsync(MapReply(session, step, result), cancellationToken);
                stepCount++;
            }

            TransformerLog.StreamCompleted(logger, session.Model.Id, stepCount);
        }
        catch (Exception ex) when (ex is IOException || (cancellationToken.IsCancellationRequested && ex is OperationCanceledException))
        {
            // The client went away (or the deadline passed): there is nobody to answer, so end quietly. A reset stream
            // surfaces as IOException, sometimes before the call's token is marked cancelled.
            TransformerLog.StreamCancelled(logger, session?.Model.Id ?? "(no model yet)", stepCount);
        }
        finally
        {
            if (session is not null)
            {
                scheduler.StreamEnded(session);
            }
        }
    }

    // The next message within the idle timeout; a stream that stays silent ends with DEADLINE_EXCEEDED.
    private async Task<bool> NextAsync(
        IAsyncStreamReader<DecodeRequest> requestStream, DecodeSession? session, int stepCount, CancellationToken cancellationToken)
    {
        var idle = options.Value.IdleTimeout;
        using var timeout = new CancellationTokenSource(idle, time);
        using var read = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        try
        {
            return await requestStream.MoveNext(read.Token);
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            TransformerLog.StreamIdle(logger, session?.Model.Id ?? "(no model yet)", idle.TotalSeconds, stepCount);
            throw new RpcException(new Status(StatusCode.DeadlineExceeded,
                $"The Decode stream sent no message for {idle.TotalSeconds:0.###} s (Muse:Transformer:Stream:IdleTimeout); it was closed."));
        }
    }

    private static DecodeReply MapReply(DecodeSession session, DecodeStepInput step, StepResult result)
    {
        var manifest = session.Model.Manifest;
        long[] shape = [session.BatchSize, manifest.GridHeight, manifest.GridWidth];
        return new DecodeReply
        {
            Step = step.Step,
            Tokens = TensorConvert.FromInt32(result.Tokens, shape),
            Confidence = TensorConvert.FromFloat32(result.Confidence, shape),
            Model = session.Model.Ref.Clone(),
        };
    }
}
