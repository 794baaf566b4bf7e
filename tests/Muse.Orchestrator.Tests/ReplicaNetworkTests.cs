using System.Net;
using Grpc.Core;
using Grpc.Health.V1;
using Grpc.HealthCheck;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Muse.Orchestrator.Replicas;
using Muse.Protos.V1;
using Muse.Repository;
using Polly.Registry;

namespace Muse.Orchestrator.Tests;

/// <summary>
/// Real gRPC over loopback: two fake transformer replicas on 127.0.0.1 and 127.0.0.2, the same port, behind one
/// <c>dns:///</c> name (Linux routes all of 127/8 to the loopback interface).
/// </summary>
public sealed class ReplicaNetworkTests
{
    private static readonly ModelManifest Model = new() { Name = "fake-sr", Version = "1", Stage = "sr" };

    // Guards against a hang only.
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task OpenSampler_DnsNameWithTwoAddresses_ConcurrentStreamsGoToBothReplicas()
    {
        using var bound = new CancellationTokenSource(Bound);
        await using var second = await FakeReplica.StartAsync(IPAddress.Parse("127.0.0.2"), 0);
        await using var first = await FakeReplica.StartAsync(IPAddress.Parse("127.0.0.1"), second.Port);
        var resolver = new FakeResolver();
        resolver.Answer("sr.muse.test", "127.0.0.1", "127.0.0.2");
        using var sut = CreateSut(resolver, $"dns:///sr.muse.test:{second.Port}");
        await sut.RefreshEndpointsAsync(bound.Token);

        await using var a = await sut.OpenSamplerAsync(Model, new Conditioning { Model = Model.Id }, new HashSet<string>(), null, bound.Token);
        await using var b = await sut.OpenSamplerAsync(Model, new Conditioning { Model = Model.Id }, new HashSet<string>(), null, bound.Token);
        await first.StreamOpened.WaitAsync(bound.Token);
        await second.StreamOpened.WaitAsync(bound.Token);

        Assert.Equal([$"http://127.0.0.1:{second.Port}", $"http://127.0.0.2:{second.Port}"], sut.Replicas("sr").Select(r => r.Endpoint));
        Assert.NotEqual(a.Endpoint, b.Endpoint);
    }

    private static StageClients CreateSut(IReplicaResolver resolver, string endpoint)
    {
        var pipelines = new ResiliencePipelineRegistry<string>();
        pipelines.TryAddBuilder(StagePipelines.Unary, (_, _) => { });
        var options = new OrchestratorOptions { Stages = { ["sr"] = new StageEndpoints { Endpoints = [endpoint] } } };
        // Real time: the channels' gRPC deadlines are wall-clock times.
        return new StageClients(
            new TestOptionsMonitor<OrchestratorOptions>(options),
            Options.Create(new StageResilienceOptions()),
            pipelines,
            resolver,
            new GrpcReplicaProbe(TimeProvider.System),
            TimeProvider.System,
            NullLogger<StageClients>.Instance);
    }

    /// <summary>A replica that serves health, StageInfo (one model) and Decode streams that only take the conditioning.</summary>
    private sealed class FakeReplica : IAsyncDisposable
    {
        private readonly WebApplication _app;

        private FakeReplica(WebApplication app, int port, DecodeSignal signal)
        {
            _app = app;
            Port = port;
            StreamOpened = signal.Opened.Task;
        }

        public int Port { get; }

        /// <summary>Completes when a decode stream has sent its conditioning here.</summary>
        public Task StreamOpened { get; }

        public static async Task<FakeReplica> StartAsync(IPAddress address, int port)
        {
            var builder = WebApplication.CreateBuilder();
            builder.Logging.ClearProviders();
            builder.WebHost.ConfigureKestrel(k => k.Listen(address, port, o => o.Protocols = HttpProtocols.Http2));
            builder.Services.AddGrpc();
            var health = new HealthServiceImpl();
            health.SetStatus(GrpcReplicaProbe.ReadyService, HealthCheckResponse.Types.ServingStatus.Serving);
            builder.Services.AddSingleton(health);
            var signal = new DecodeSignal();
            builder.Services.AddSingleton(signal);
            var app = builder.Build();
            app.MapGrpcService<HealthServiceImpl>();
            app.MapGrpcService<FakeStageInfo>();
            app.MapGrpcService<FakeTransformer>();
            await app.StartAsync();
            var bound = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
            return new FakeReplica(app, bound.Port, signal);
        }

        public async ValueTask DisposeAsync()
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }

    private sealed class DecodeSignal
    {
        public TaskCompletionSource Opened { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    private sealed class FakeStageInfo : StageInfo.StageInfoBase
    {
        public override Task<GetStageInfoReply> GetStageInfo(GetStageInfoRequest request, ServerCallContext context) =>
            Task.FromResult(new GetStageInfoReply { Models = { new ModelDescriptor { Name = Model.Name, Version = Model.Version, Stage = Model.Stage } } });
    }

    private sealed class FakeTransformer(DecodeSignal signal) : TokenTransformer.TokenTransformerBase
    {
        public override async Task Decode(IAsyncStreamReader<DecodeRequest> requestStream, IServerStreamWriter<DecodeReply> responseStream, ServerCallContext context)
        {
            if (await requestStream.MoveNext() && requestStream.Current.Conditioning is not null)
            {
                signal.Opened.TrySetResult();
            }

            // Hold the stream open until the client ends it.
            while (await requestStream.MoveNext())
            {
            }
        }
    }
}
