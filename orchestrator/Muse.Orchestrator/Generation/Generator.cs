using Google.Protobuf;
using Grpc.Core;
using Microsoft.Extensions.Options;
using Muse.Decoding;
using Muse.Imaging;
using Muse.Orchestrator.Replicas;
using Muse.Protos;
using Muse.Protos.V1;
using Muse.Repository;

namespace Muse.Orchestrator.Generation;

/// <summary>
/// Runs one request through the stages (DESIGN.md, "One request, end to end"): text → base loop → SR loop →
/// pixels. Owns the token state; the replicas only sample.
/// </summary>
public sealed class Generator(IStageGateway stages, IOptions<StageResilienceOptions> resilience, TimeProvider time, ILogger<Generator> logger)
{
    /// <summary>Generates the image, reporting progress events through <paramref name="emit"/>.</summary>
    public async Task<Result> GenerateAsync(GenerateSettings settings, Func<GenerateEvent, Task> emit, DateTime? deadline, CancellationToken ct)
    {
        var models = settings.Models;
        var timings = new List<StageTiming>();
        var started = time.GetTimestamp();
        var seeds = settings.ImageSeeds;      // [batch] image 0 keeps the request seed
        var batch = seeds.Length;

        // 1. Text: row 0 conditions, row 1 is the unconditional (or negative) row of classifier-free guidance.
        var stageStarted = time.GetTimestamp();
        var text = await EncodeAsync(models.TextEncoder, settings, deadline, ct);
        timings.Add(Timing(Stages.TextEncoder, stageStarted));

        // 2. Base loop: every token of the low-resolution grid starts masked.
        stageStarted = time.GetTimestamp();
        var baseModel = models.Base;
        var baseStates = seeds.Select(_ => TokenState.AllMasked(baseModel.GridHeight, baseModel.GridWidth, baseModel.MaskTokenId)).ToArray();
        var baseConditioning = Conditioning(baseModel, text, seeds, lowResTokens: null);
        await DecodeAsync(baseModel, DecodeStage.Base, baseConditioning, baseStates, settings.Decoding.Base, seeds, deadline, async progress =>
        {
            var preview = WantsPreview(settings.PreviewEvery, progress)
                ? await PreviewAsync(models.ImageTokenizer, baseStates[0], deadline, ct)
                : ByteString.Empty;
            await emit(ProgressEvent(Stages.Base, progress, preview));
        }, ct);
        timings.Add(Timing(Stages.Base, stageStarted));

        // 3. Super-resolution loop, conditioned on the text and the finished low-resolution tokens.
        stageStarted = time.GetTimestamp();
        var srModel = models.SuperResolution;
        var lowRes = TensorConvert.FromInt32(Concat(baseStates), batch, baseModel.GridHeight, baseModel.GridWidth);   // [batch, h, w]
        var srStates = seeds.Select(_ => TokenState.AllMasked(srModel.GridHeight, srModel.GridWidth, srModel.MaskTokenId)).ToArray();
        var srConditioning = Conditioning(srModel, text, seeds, lowRes);
        await DecodeAsync(srModel, DecodeStage.SuperResolution, srConditioning, srStates, settings.Decoding.SuperResolution, seeds, deadline,
            progress => emit(ProgressEvent(Stages.SuperResolution, progress, ByteString.Empty)), ct);
        timings.Add(Timing(Stages.SuperResolution, stageStarted));

        // 4. Pixels.
        stageStarted = time.GetTimestamp();
        var tokens = TensorConvert.FromInt32(Concat(srStates), batch, srModel.GridHeight, srModel.GridWidth);   // [batch, h, w]
        var image = await stages.DetokenizeAsync(models.ImageTokenizer, tokens, deadline, ct);
        // The final encoding carries each image's own parameters (its seed, not the request's), so image k equals a
        // 1-image request with seed ImageSeed(seed, k) byte for byte.
        var images = image.Images.Select((png, k) =>
        {
            var encoded = ImageEncoding.Encode(png.Span, ParametersOf(settings, k), settings.OutputFormat, settings.Quality);
            encoded.Index = k;
            return encoded;
        }).ToList();
        timings.Add(Timing(Stages.ImageTokenizer, stageStarted));
        timings.Add(Timing("total", started));

        var result = new Result
        {
            Image = images[0].Image,
            Width = images[0].Width,
            Height = images[0].Height,
            Seed = settings.Seed,
            RequestId = settings.RequestId,
        };
        result.Images.AddRange(images);
        result.Models.AddRange(StageModels(models));
        result.Timings.AddRange(timings);
        return result;
    }

    /// <summary>The version chosen for each stage, as reported to clients.</summary>
    public static IEnumerable<StageModel> StageModels(Pipelines.PipelineChoice models) =>
        models.Models.Select(m => new StageModel { Stage = m.Stage, Name = m.Model.Name, Version = m.Model.Version });

    // MaskGIT decoding on a replica (also used by Editor). The orchestrator owns the token state, so when a replica is lost mid-decode
    // the loop resumes on another replica at the step it had reached: the image is bit-identical.
    internal async Task DecodeAsync(
        ModelManifest model,
        DecodeStage stage,
        Conditioning conditioning,
        TokenState[] states,
        DecodeOptions options,
        ulong[] seeds,
        DateTime? deadline,
        Func<StepProgress, Task> onStep,
        CancellationToken ct)
    {
        var excluded = new HashSet<string>(StringComparer.Ordinal);
        var stepsDone = 0;
        for (var failovers = 0; ; failovers++)
        {
            await using var replica = await stages.OpenDecodeAsync(model, conditioning, excluded, deadline, ct);
            try
            {
                await ParallelDecoder.DecodeAsync(replica, states, options, stage, seeds, startStep: stepsDone, async progress =>
                {
                    stepsDone = progress.Step;
                    await onStep(progress);
                }, ct);
                return;
            }
            catch (RpcException ex) when (StageErrors.IsTransient(ex) && failovers < resilience.Value.MaxDecodeFailovers && !ct.IsCancellationRequested)
            {
                replica.MarkFailed();
                excluded.Add(replica.Endpoint);
                OrchestratorLog.DecodeFailover(logger, model.Id, replica.Endpoint, stepsDone, ex.StatusCode.ToString());
            }
        }
    }

    internal async Task<EncodeReply> EncodeAsync(ModelManifest textEncoder, GenerateSettings settings, DateTime? deadline, CancellationToken ct)
    {
        try
        {
            return await stages.EncodeAsync(textEncoder, [settings.Prompt, settings.NegativePrompt], deadline, ct);
        }
        catch (RpcException ex) when (ex.StatusCode == StatusCode.InvalidArgument)
        {
            // The encoder speaks of its own texts[i]; the caller sent a prompt and a negative prompt.
            var detail = ex.Status.Detail.Replace("texts[0]", "prompt", StringComparison.Ordinal)
                .Replace("texts[1]", "negative_prompt", StringComparison.Ordinal);
            throw new RpcException(new Status(StatusCode.InvalidArgument, detail));
        }
    }

    internal async Task<ByteString> PreviewAsync(ModelManifest imageTokenizer, TokenState state, DateTime? deadline, CancellationToken ct)
    {
        // The prediction holds the latest sample at every position, so a preview exists from the first step on.
        var tokens = TensorConvert.FromInt32(state.Prediction, 1, state.GridHeight, state.GridWidth);
        var reply = await stages.DetokenizeAsync(imageTokenizer, tokens, deadline, ct);
        return reply.Images[0];
    }

    // [batch, h*w] row-major, as the stage tensors want.
    private static int[] Concat(TokenState[] states)
    {
        var length = states[0].Length;
        var tokens = new int[states.Length * length];
        for (var i = 0; i < states.Length; i++)
        {
            states[i].Tokens.CopyTo(tokens, i * length);
        }

        return tokens;
    }

    internal static bool WantsPreview(int every, StepProgress progress) =>
        every > 0 && (progress.Step % every == 0 || progress.Step == progress.Steps);

    internal static Conditioning Conditioning(ModelManifest model, EncodeReply text, ulong[] seeds, Tensor? lowResTokens)
    {
        var conditioning = new Conditioning
        {
            Model = model.Id,
            TextEmbeddings = text.Embeddings,
            TextMask = text.Mask,
        };
        conditioning.Seeds.AddRange(seeds);
        if (lowResTokens is not null)
        {
            conditioning.LowResTokens = lowResTokens;
        }

        return conditioning;
    }

    internal static GenerateEvent ProgressEvent(string stage, StepProgress progress, ByteString preview) => new()
    {
        Progress = new Progress
        {
            Stage = stage,
            Step = progress.Step,
            Steps = progress.Steps,
            MaskedTokens = progress.MaskedTokens,
            TotalTokens = progress.TotalTokens,
            PreviewPng = preview,
        },
    };

    internal StageTiming Timing(string stage, long started) =>
        new() { Stage = stage, Milliseconds = time.GetElapsedTime(started).TotalMilliseconds };

    /// <summary>The parameters of image <paramref name="index"/> of a request.</summary>
    private static GenerationParameters ParametersOf(GenerateSettings settings, int index) => new()
    {
        Prompt = settings.Prompt,
        NegativePrompt = settings.NegativePrompt,
        Seed = Decoding.CounterRng.ImageSeed(settings.Seed, index),
        BaseSteps = settings.Decoding.Base.Steps,
        SrSteps = settings.Decoding.SuperResolution.Steps,
        GuidanceScale = settings.Decoding.Base.GuidanceScale,
        GuidanceSchedule = settings.Decoding.Base.GuidanceSchedule == Decoding.GuidanceSchedule.Linear ? "linear" : "constant",
        SamplingTemperature = settings.Decoding.Base.SamplingTemperature,
        SrSamplingTemperature = settings.Decoding.SuperResolution.SamplingTemperature,
        ChoiceTemperature = settings.Decoding.Base.ChoiceTemperature,
        Pipeline = settings.Models.Pipeline,
        Models = [.. settings.Models.Models.Select(m => new ModelVersion(m.Stage, m.Model.Name, m.Model.Version))],
    };
}
