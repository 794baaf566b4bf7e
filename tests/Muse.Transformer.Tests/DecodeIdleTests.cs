using System.Diagnostics;
using Grpc.Core;
using Muse.Hosting;
using Muse.Inference;
using Muse.Protos.V1;
using Muse.Repository;
using Muse.Testing;

namespace Muse.Transformer.Tests;

/// <summary>Idle Decode streams are closed after Muse:Transformer:Stream:IdleTimeout, and the replica keeps serving.</summary>
public sealed class DecodeIdleTests : IAsyncLifetime
{
    private StageHost? _host;

    private StageHost Host => _host ?? throw new InvalidOperationException("Not started.");

    public async Task InitializeAsync() => _host = await TransformerHosts.StartReplicaAsync(
        new Dictionary<string, string?>
        {
            ["Muse:Inference:Models:0"] = TransformerHosts.BaseModel,
            ["Muse:Transformer:Stream:IdleTimeout"] = "00:00:01",
        });

    public async Task DisposeAsync()
    {
        if (_host is not null)
        {
            await _host.DisposeAsync();
        }
    }

    [Fact]
    public async Task ManyEmptyStreams_AreClosedWithDeadlineExceeded()
    {
        var client = new TokenTransformer.TokenTransformerClient(Host.Channel);
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var started = Stopwatch.GetTimestamp();

        // 100 streams that never send a message, all at once.
        var calls = Enumerable.Range(0, 100).Select(_ => client.Decode(cancellationToken: bound.Token)).ToList();
        var statuses = await Task.WhenAll(calls.Select(async call =>
        {
            var ex = await Assert.ThrowsAsync<RpcException>(() => call.ResponseStream.MoveNext(bound.Token));
            call.Dispose();
            return ex.StatusCode;
        }));

        Assert.All(statuses, status => Assert.Equal(StatusCode.DeadlineExceeded, status));
        Assert.InRange(Stopwatch.GetElapsedTime(started), TimeSpan.FromSeconds(0.9), TimeSpan.FromSeconds(45));
    }

    [Fact]
    public async Task StreamWithConditioningOnly_IsClosed_AndTheReplicaKeepsServing()
    {
        var client = new TokenTransformer.TokenTransformerClient(Host.Channel);
        var model = await TransformerHosts.DescribeAsync(Host);
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(60));

        using var idle = client.Decode(cancellationToken: bound.Token);
        await idle.RequestStream.WriteAsync(Requests.Open(Requests.Conditioning(model, [7])), bound.Token);
        var ex = await Assert.ThrowsAsync<RpcException>(() => idle.ResponseStream.MoveNext(bound.Token));
        var replies = await DecodeStream.RunAsync(client, Requests.Conditioning(model, [7]), Requests.Step(model, Requests.AllMasked(model, 1)));

        Assert.Equal(StatusCode.DeadlineExceeded, ex.StatusCode);
        Assert.Contains("IdleTimeout", ex.Status.Detail, StringComparison.Ordinal);
        Assert.Single(replies);
    }
}
