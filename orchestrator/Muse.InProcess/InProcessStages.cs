using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Muse.Decoding;
using Muse.Hosting;
using Muse.ImageTokenizer;
using Muse.Inference;
using Muse.Orchestrator.Replicas;
using Muse.Protos;
using Muse.Protos.V1;
using Muse.Repository;
using Muse.TextEncoder;
using Muse.Transformer;

namespace Muse.InProcess;

/// <summary>
/// Every stage in this process, reached by direct calls into the same service code the stage processes run
/// (validation, ONNX Runtime, guidance, sampling, PNG encoding) — everything but gRPC, protobuf on the wire and
/// process boundaries. What the split pipeline costs on top of this is its transport overhead.
/// </summary>
/// <remarks>Owns the host and its loaded models; dispose it.</remarks>
public sealed class InProcessStages : IStageGateway, IDisposable
{
    private readonly IHost[] _hosts;
    private readonly TextEncoderService _textEncoder;
    private readonly ImageTokenizerService _imageTokenizer;
    private readonly ServedModels<TransformerModel> _transformers;
    private readonly StepRunner _stepRunner;

    private InProcessStages(IHost textEncoder, IHost imageTokenizer, IHost transformer)
    {
        _hosts = [textEncoder, imageTokenizer, transformer];
        _textEncoder = ActivatorUtilities.CreateInstance<TextEncoderService>(textEncoder.Services);
        _imageTokenizer = ActivatorUtilities.CreateInstance<ImageTokenizerService>(imageTokenizer.Services);
        _transformers = transformer.Services.GetRequiredService<ServedModels<TransformerModel>>();
        _stepRunner = transformer.Services.GetRequiredService<StepRunner>();
    }

    /// <summary>Loads every model of the repository, registered as the stage processes register them.</summary>
    public static Task<InProcessStages> StartAsync(string repository, int intraOpThreads, CancellationToken ct) =>
        StartAsync(repository, intraOpThreads, allowSpinning: true, cpuMemoryArena: true, ct);

    /// <summary>
    /// Loads every model of the repository; <paramref name="allowSpinning"/> false makes idle ONNX Runtime threads sleep,
    /// so the sessions of one stage do not spin on the cores another stage's session is computing on;
    /// <paramref name="cpuMemoryArena"/> false returns each run's activations (<see cref="InferenceOptions.CpuMemoryArena"/>).
    /// </summary>
    public static async Task<InProcessStages> StartAsync(string repository, int intraOpThreads, bool allowSpinning, bool cpuMemoryArena, CancellationToken ct)
    {
        // One host per stage process, built with the same registration calls as its Program.cs (minus Kestrel).
        async Task<IHost> StageAsync(Action<HostApplicationBuilder> register, params string[] stages)
        {
            var builder = Host.CreateApplicationBuilder();
            builder.Logging.ClearProviders();
            builder.Configuration[$"{InferenceOptions.Section}:{nameof(InferenceOptions.Repository)}"] = repository;
            builder.Configuration[$"{InferenceOptions.Section}:{nameof(InferenceOptions.IntraOpThreads)}"] =
                intraOpThreads.ToString(System.Globalization.CultureInfo.InvariantCulture);
            builder.Configuration[$"{InferenceOptions.Section}:{nameof(InferenceOptions.AllowSpinning)}"] = allowSpinning ? "true" : "false";
            builder.Configuration[$"{InferenceOptions.Section}:{nameof(InferenceOptions.CpuMemoryArena)}"] = cpuMemoryArena ? "true" : "false";
            builder.AddMuseModels(stages);
            register(builder);
            var host = builder.Build();
            await host.StartAsync(ct);
            return host;
        }

        return new InProcessStages(
            await StageAsync(b => b.AddTextEncoder(), Stages.TextEncoder),
            await StageAsync(b => b.AddImageTokenizer(), Stages.ImageTokenizer),
            await StageAsync(b => b.AddTokenTransformer(), Stages.Base, Stages.SuperResolution));
    }

    /// <inheritdoc/>
    public Task<EncodeReply> EncodeAsync(ModelManifest model, IEnumerable<string> texts, DateTime? deadline, CancellationToken ct)
    {
        var request = new EncodeRequest { Model = model.Id };
        request.Texts.AddRange(texts);
        return _textEncoder.Encode(request, new InProcessCallContext(ct));
    }

    /// <inheritdoc/>
    public Task<DetokenizeReply> DetokenizeAsync(ModelManifest model, Tensor tokens, PixelEncoding encoding, DateTime? deadline, CancellationToken ct) =>
        _imageTokenizer.Detokenize(new DetokenizeRequest { Model = model.Id, Tokens = tokens, Encoding = encoding }, new InProcessCallContext(ct));

    /// <inheritdoc/>
    public Task<TokenizeReply> TokenizeAsync(ModelManifest model, ReadOnlyMemory<byte> image, DateTime? deadline, CancellationToken ct) =>
        _imageTokenizer.Tokenize(
            new TokenizeRequest { Model = model.Id, Image = Google.Protobuf.ByteString.CopyFrom(image.Span) }, new InProcessCallContext(ct));

    /// <inheritdoc/>
    public Task<IReplicaSampler> OpenSamplerAsync(
        ModelManifest model, Conditioning conditioning, IReadOnlySet<string> excluded, DateTime? deadline, CancellationToken ct) =>
        Task.FromResult<IReplicaSampler>(new InProcessSampler(DecodeSession.Open(conditioning, _transformers.Get(model.Id)), _stepRunner));

    /// <inheritdoc/>
    public void Dispose()
    {
        foreach (var host in _hosts)
        {
            host.StopAsync().GetAwaiter().GetResult();
            host.Dispose();
        }
    }

    private sealed class InProcessSampler(DecodeSession session, StepRunner runner) : IReplicaSampler
    {
        public string Endpoint => "in-process";

        public void MarkFailed()
        {
        }

        public ValueTask<SampledTokens> SampleAsync(
            IReadOnlyList<TokenState> states, int step, int steps, float guidanceScale, float samplingTemperature, bool committedConfidence, CancellationToken ct)
        {
            var input = session.ReadStep(DecodeSteps.Create(session.Model.Manifest, states, step, steps, guidanceScale, samplingTemperature, committedConfidence));
            var result = runner.Run(session, input, ct);
            return ValueTask.FromResult(new SampledTokens(states.Count, result.Tokens, result.Confidence));
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
