using Google.Protobuf;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Muse.Decoding;
using Muse.Imaging;
using Muse.Orchestrator.Generation;
using Muse.Orchestrator.Pipelines;
using Muse.Orchestrator.Replicas;
using Muse.Protos.V1;
using Muse.Repository;
using Muse.Testing;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace Muse.Orchestrator.Tests;

public sealed class MuseServiceTests : IDisposable
{
    private static readonly TimeSpan StepTime = TimeSpan.FromMilliseconds(10);
    private readonly TestRepository _repository = new();
    private readonly FakeTimeProvider _time = new();
    private readonly FakeStages _stages;
    private readonly ServiceProvider _meters = new ServiceCollection().AddMetrics().BuildServiceProvider();

    public MuseServiceTests() => _stages = new FakeStages(_time);

    public void Dispose()
    {
        _meters.Dispose();
        _repository.Dispose();
    }

    [Fact]
    public async Task ListModels_AfterRequests_ReportsRequestsFailuresAndLatencyPerVersion()
    {
        File.WriteAllText(_repository.PipelinesPath, TestRepository.Pipelines((Stages.Base, "b/1", 1), (Stages.Base, "b/2", 1)));
        using var catalogs = CreateCatalogs();
        var sut = CreateSut(catalogs);

        for (var i = 0; i < 4; i++)
        {
            await GenerateAsync(sut);
        }

        _stages.FailEncode = true;
        await Assert.ThrowsAsync<RpcException>(() => GenerateAsync(sut));
        var reply = await sut.ListModels(new ListModelsRequest(), TestServerCallContext.Create());

        var models = reply.Pipelines.Single().Models.ToDictionary(m => $"{m.Model.Name}/{m.Model.Version}", m => m.Stats);
        Assert.Equal((5ul, 1ul, 4ul), (models["t/1"].Requests, models["t/1"].Failures, models["t/1"].Completed));
        Assert.Equal(5ul, models["b/1"].Requests + models["b/2"].Requests);
        Assert.Equal(1ul, models["b/1"].Failures + models["b/2"].Failures);
        // Every base decode is 4 steps of 10 ms on the fake clock; quantiles are within one 4.4 % bucket.
        var baseStats = new[] { models["b/1"], models["b/2"] }.First(s => s.Completed > 0);
        Assert.InRange(baseStats.LatencyP50Ms, 40 / 1.05, 40 * 1.05);
        Assert.InRange(baseStats.LatencyP95Ms, 40 / 1.05, 40 * 1.05);
        Assert.InRange(models["s/1"].LatencyP50Ms, 20 / 1.05, 20 * 1.05);
    }

    [Fact]
    public async Task Generate_CatalogReloadedMidRequest_FinishesOnTheVersionItStartedWith()
    {
        File.WriteAllText(_repository.PipelinesPath, TestRepository.Pipelines());
        using var catalogs = CreateCatalogs();
        var sut = CreateSut(catalogs);
        _stages.HoldFirstStep = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        var inFlight = GenerateAsync(sut);
        await _stages.FirstStepReached.Task.WaitAsync(TimeSpan.FromSeconds(20));
        File.WriteAllText(_repository.PipelinesPath, TestRepository.Pipelines((Stages.Base, "b/2", 1)));
        var reloaded = await catalogs.CheckAsync();
        var next = await GenerateAsync(sut);
        _stages.HoldFirstStep.SetResult();
        var first = await inFlight;

        Assert.True(reloaded);
        Assert.Equal("1", first.Models.Single(m => m.Stage == Stages.Base).Version);
        Assert.Equal("2", next.Models.Single(m => m.Stage == Stages.Base).Version);
    }

    private static async Task<Result> GenerateAsync(MuseService sut)
    {
        var events = new EventWriter();
        await sut.Generate(new GenerateRequest { Prompt = "a red circle" }, events, TestServerCallContext.Create());
        return events.Events.Last().Result;
    }

    private PipelineCatalogSource CreateCatalogs() => new(
        _repository.PipelinesPath, _repository.Root, served: null, new PipelineReloadOptions { PollInterval = TimeSpan.Zero }, _time,
        NullLogger<PipelineCatalogSource>.Instance);

    private MuseService CreateSut(PipelineCatalogSource catalogs)
    {
        var runner = new StageRunner(_stages, Options.Create(new StageResilienceOptions()), _time, NullLogger<StageRunner>.Instance);
        var guard = new ImageUploadGuard(new UploadOptions(), NullLogger<ImageUploadGuard>.Instance);
        return new MuseService(
            catalogs,
            new Generator(runner, _stages, _time),
            new Editor(runner, _stages, guard, _time),
            new AdmissionController(Options.Create(new QueueOptions { MaxConcurrent = 4 })),
            new ModelMetrics(_meters.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>()),
            _time,
            Options.Create(new QueueOptions()),
            NullLogger<MuseService>.Instance);
    }

    private sealed class EventWriter : IServerStreamWriter<GenerateEvent>
    {
        public List<GenerateEvent> Events { get; } = [];

        public WriteOptions? WriteOptions { get; set; }

        public Task WriteAsync(GenerateEvent message)
        {
            Events.Add(message);
            return Task.CompletedTask;
        }

        // The service bounds every write with a token (a client that stops reading is cancelled).
        public Task WriteAsync(GenerateEvent message, CancellationToken cancellationToken)
        {
            cancellationToken.ThrowIfCancellationRequested();
            return WriteAsync(message);
        }
    }

    // Stages that answer at once: every sampled token is 0 with confidence 1, each step takes StepTime on the fake clock.
    private sealed class FakeStages(FakeTimeProvider time) : IStageGateway
    {
        public bool FailEncode { get; set; }

        public TaskCompletionSource? HoldFirstStep { get; set; }

        public TaskCompletionSource FirstStepReached { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task<EncodeReply> EncodeAsync(ModelManifest model, IEnumerable<string> texts, DateTime? deadline, CancellationToken ct) =>
            FailEncode ? throw new RpcException(new Status(StatusCode.Internal, "encoder broke")) : Task.FromResult(new EncodeReply());

        public Task<DetokenizeReply> DetokenizeAsync(ModelManifest model, Tensor tokens, PixelEncoding encoding, DateTime? deadline, CancellationToken ct)
        {
            var side = 16 * model.DownsampleFactor;
            var reply = new DetokenizeReply { Width = side, Height = side };
            using var image = new Image<Rgb24>(side, side);
            using var png = new MemoryStream();
            image.SaveAsPng(png);
            var bytes = encoding == PixelEncoding.Rgb24 ? new byte[side * side * 3] : png.ToArray();
            for (var i = 0; i < tokens.Shape[0]; i++)
            {
                reply.Images.Add(ByteString.CopyFrom(bytes));
            }

            return Task.FromResult(reply);
        }

        public Task<TokenizeReply> TokenizeAsync(ModelManifest model, ReadOnlyMemory<byte> image, DateTime? deadline, CancellationToken ct) =>
            throw new NotSupportedException();

        public Task<IReplicaSampler> OpenSamplerAsync(
            ModelManifest model, Conditioning conditioning, IReadOnlySet<string> excluded, DateTime? deadline, CancellationToken ct) =>
            Task.FromResult<IReplicaSampler>(new Sampler(this));

        private sealed class Sampler(FakeStages stages) : IReplicaSampler
        {
            public string Endpoint => "fake";

            public void MarkFailed()
            {
            }

            public async ValueTask<SampledTokens> SampleAsync(
                IReadOnlyList<TokenState> states, int step, int steps, float guidanceScale, float samplingTemperature, bool committedConfidence, CancellationToken ct)
            {
                if (stages.HoldFirstStep is { } hold && stages.FirstStepReached.TrySetResult())
                {
                    await hold.Task;
                }

                stages.Time.Advance(StepTime);
                var length = states.Count * states[0].Length;
                return new SampledTokens(states.Count, new int[length], Enumerable.Repeat(1f, length).ToArray());
            }

            public ValueTask DisposeAsync() => ValueTask.CompletedTask;
        }

        private FakeTimeProvider Time { get; } = time;
    }
}
