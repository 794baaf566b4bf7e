using Grpc.Core;
using Muse.Protos.V1;

namespace Muse.Transformer.Tests;

[Collection(TransformerReplicas.Name)]
public sealed class DecodeCancellationTests(TransformerHosts hosts)
{
    [Fact]
    public async Task Decode_ClientCancelsBetweenSteps_ServerKeepsServing()
    {
        var model = hosts.SuperResolutionDescriptor;
        var client = new TokenTransformer.TokenTransformerClient(hosts.SuperResolution.Channel);
        using var cancellation = new CancellationTokenSource();
        using var call = client.Decode(cancellationToken: cancellation.Token);
        await call.RequestStream.WriteAsync(Requests.Open(Requests.Conditioning(model, [1, 2])));
        await call.RequestStream.WriteAsync(Requests.Step(model, Requests.AllMasked(model, 2), step: 0, steps: 4));
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));

        cancellation.Cancel();

        var error = await Assert.ThrowsAsync<RpcException>(() => call.ResponseStream.MoveNext(CancellationToken.None));
        Assert.Equal(StatusCode.Cancelled, error.StatusCode);
        await AssertServesAsync(client, model);
    }

    [Fact]
    public async Task Decode_ClientCancelsWithStepsInFlight_ServerKeepsServing()
    {
        var model = hosts.SuperResolutionDescriptor;
        var client = new TokenTransformer.TokenTransformerClient(hosts.SuperResolution.Channel);
        using var cancellation = new CancellationTokenSource();
        using var call = client.Decode(cancellationToken: cancellation.Token);
        await call.RequestStream.WriteAsync(Requests.Open(Requests.Conditioning(model, Enumerable.Range(1, 16).Select(s => (ulong)s).ToArray())));
        for (var step = 0; step < 4; step++)
        {
            await call.RequestStream.WriteAsync(Requests.Step(model, Requests.AllMasked(model, 16), step, steps: 4));
        }

        cancellation.Cancel();

        var error = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            while (await call.ResponseStream.MoveNext(CancellationToken.None))
            {
            }
        });
        Assert.Equal(StatusCode.Cancelled, error.StatusCode);
        await AssertServesAsync(client, model);
    }

    private static async Task AssertServesAsync(TokenTransformer.TokenTransformerClient client, ModelDescriptor model)
    {
        var replies = await DecodeStream.RunAsync(
            client,
            Requests.Conditioning(model, [3]),
            Requests.Step(model, Requests.AllMasked(model, 1)),
            Requests.Step(model, Requests.PartlyMasked(model, 1), step: 1));

        Assert.Equal([0, 1], replies.Select(r => r.Step));
    }
}
