using Grpc.Core;
using Muse.Decoding;
using Muse.Protos.V1;

namespace Muse.Transformer.Tests;

/// <summary>Drives Decode streams the way the orchestrator does: one step message, then its reply.</summary>
internal static class DecodeStream
{
    /// <summary>Opens a stream, sends <paramref name="conditioning"/>, then each step and reads its reply; closes it.</summary>
    public static async Task<List<DecodeReply>> RunAsync(
        TokenTransformer.TokenTransformerClient client, Conditioning conditioning, params DecodeRequest[] steps)
    {
        using var call = client.Decode();
        await call.RequestStream.WriteAsync(Requests.Open(conditioning));
        var replies = new List<DecodeReply>();
        foreach (var step in steps)
        {
            await call.RequestStream.WriteAsync(step);
            Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None), "The stream ended before the reply.");
            replies.Add(call.ResponseStream.Current);
        }

        await call.RequestStream.CompleteAsync();
        Assert.False(await call.ResponseStream.MoveNext(CancellationToken.None), "A reply came without a step.");
        return replies;
    }

    /// <summary>Sends <paramref name="messages"/> as they are and reads until the stream ends; returns its status.</summary>
    public static async Task<RpcException> FailAsync(TokenTransformer.TokenTransformerClient client, params DecodeRequest[] messages)
    {
        using var call = client.Decode();
        try
        {
            foreach (var message in messages)
            {
                await call.RequestStream.WriteAsync(message);
            }

            await call.RequestStream.CompleteAsync();
        }
        catch (RpcException)
        {
            // The server may end the call while messages are still being written; the status is read below.
        }
        catch (InvalidOperationException)
        {
            // Writing after the call has finished: likewise.
        }

        return await Assert.ThrowsAsync<RpcException>(async () =>
        {
            while (await call.ResponseStream.MoveNext(CancellationToken.None))
            {
            }
        });
    }
}

/// <summary>
/// The <see cref="ITokenSampler"/> of a test: one Decode stream whose conditioning was sent already, so that
/// <see cref="ParallelDecoder"/> can run a full decode against the replica.
/// </summary>
internal sealed class StreamSampler(AsyncDuplexStreamingCall<DecodeRequest, DecodeReply> call, ModelDescriptor model) : ITokenSampler
{
    public List<DecodeReply> Replies { get; } = [];

    public async ValueTask<SampledTokens> SampleAsync(
        IReadOnlyList<TokenState> states, int step, int steps, float guidanceScale, float samplingTemperature, bool committedConfidence, CancellationToken ct)
    {
        var tokens = states.SelectMany(s => s.Tokens).ToArray();   // [batch, N]
        await call.RequestStream.WriteAsync(Requests.Step(model, tokens, step, steps, guidanceScale, samplingTemperature, committedConfidence), ct);
        Assert.True(await call.ResponseStream.MoveNext(ct), "The stream ended before the reply.");
        var reply = call.ResponseStream.Current;
        Replies.Add(reply);
        return new SampledTokens(states.Count, Requests.Tokens(reply), Requests.Confidence(reply));
    }
}
