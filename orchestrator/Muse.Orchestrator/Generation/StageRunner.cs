using Google.Protobuf;
using Grpc.Core;
using Microsoft.Extensions.Options;
using Muse.Decoding;
using Muse.Orchestrator.Replicas;
using Muse.Protos;
using Muse.Protos.V1;
using Muse.Repository;

namespace Muse.Orchestrator.Generation;

/// <summary>
/// The stage calls that <see cref="Generator"/> and <see cref="Editor"/> both make: text encoding, one stage's parallel
/// decoding on a replica with failover, previews, and the events and timings they report.
/// </summary>
public sealed class StageRunner(IStageGateway stages, IOptions<StageResilienceOptions> resilience, TimeProvider time, ILogger<StageRunner> logger)
{
    /// <summary>The version chosen for each stage, as reported to clients.</summary>
    public static IEnumerable<StageModel> Reported(Pipelines.PipelineChoice models) =>
        models.Models.Select(m => new StageModel { Stage = m.Stage, Name = m.Model.Name, Version = m.Model.Version });

    /// <summary>
    /// Decodes one stage's token grids (MaskGIT parallel decoding, <see cref="ParallelDecoder"/>) on a replica. The
    /// orchestrator owns the token state, so when a replica is lost mid-decode (its stream breaks, or a step gets no
    /// answer within the step timeout) the loop resumes on another replica at the step it had reached: the image is
    /// bit-identical. A replica that fails before it answered any step is left at once, without using up a failover.
    /// </summary>
    public async Task DecodeStageAsync(
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
        var tried = new HashSet<string>(StringComparer.Ordinal);
        var stepsDone = 0;
        var failovers = 0;
        while (true)
        {
            await using var replica = await stages.OpenSamplerAsync(model, conditioning, tried, deadline, ct);
            var stepsAtOpen = stepsDone;
            try
            {
                await ParallelDecoder.DecodeAsync(replica, states, options, stage, seeds, startStep: stepsDone, async progress =>
                {
                    stepsDone = progress.Step;
                    await onStep(progress);
                }, ct);
                return;
            }
            catch (RpcException ex) when (StageErrors.IsTransient(ex) && !ct.IsCancellationRequested)
            {
                replica.MarkFailed();
                // A replica that was dead before the decode reached it cost nothing: no step moved. Each replica gets that
                // once per decode; a replica that failed after answering, or fails again, uses up a failover.
                if (tried.Add(replica.Endpoint) && stepsDone == stepsAtOpen)
                {
                    ReplicaLog.DecodeOpenFailed(logger, model.Id, replica.Endpoint, ex.StatusCode.ToString());
                    continue;
                }

                if (++failovers > resilience.Value.MaxDecodeFailovers)
                {
                    throw;
                }

                OrchestratorLog.DecodeFailover(logger, model.Id, replica.Endpoint, stepsDone, ex.StatusCode.ToString());
            }
        }
    }

    /// <summary>Encodes the prompt (row 0) and the negative prompt (row 1, the unconditional row of guidance).</summary>
    public async Task<EncodeReply> EncodeTextAsync(ModelManifest textEncoder, GenerateSettings settings, DateTime? deadline, CancellationToken ct)
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

    /// <summary>A PNG of the current prediction of <paramref name="state"/>.</summary>
    public async Task<ByteString> PreviewAsync(ModelManifest imageTokenizer, TokenState state, DateTime? deadline, CancellationToken ct)
    {
        // The prediction holds the latest sample at every position, so a preview exists from the first step on.
        var tokens = TensorConvert.FromInt32(state.Prediction, 1, state.GridHeight, state.GridWidth);
        var reply = await stages.DetokenizeAsync(imageTokenizer, tokens, PixelEncoding.Png, deadline, ct);
        return reply.Images[0];
    }

    /// <summary>
    /// The progress event of <paramref name="stage"/> for one step, carrying a preview of <paramref name="state"/> when
    /// the step is due one at the interval <paramref name="previewEvery"/> (<see cref="WantsPreview"/>).
    /// </summary>
    public async Task<GenerateEvent> ProgressWithPreviewAsync(
        string stage, StepProgress progress, int previewEvery, ModelManifest imageTokenizer, TokenState state, DateTime? deadline, CancellationToken ct)
    {
        var preview = WantsPreview(previewEvery, progress)
            ? await PreviewAsync(imageTokenizer, state, deadline, ct)
            : ByteString.Empty;
        return ProgressEvent(stage, progress, preview);
    }

    /// <summary>True when step <paramref name="progress"/> gets a preview at the interval <paramref name="every"/> (and always the last step).</summary>
    public static bool WantsPreview(int every, StepProgress progress) =>
        every > 0 && (progress.Step % every == 0 || progress.Step == progress.Steps);

    /// <summary>
    /// The conditioning a Decode stream opens with: the text rows (and their pooled embeddings, from encoders that have
    /// them), the pipeline's <paramref name="microConditions"/> for every image when it defines them, and the low-res
    /// tokens (sr). Transformers without pooled or micro-condition inputs ignore those fields.
    /// </summary>
    public static Conditioning Conditioning(
        ModelManifest model, EncodeReply text, ulong[] seeds, Tensor? lowResTokens, IReadOnlyList<float>? microConditions)
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

        if (text.PooledEmbeddings is not null)
        {
            conditioning.PooledTextEmbeddings = text.PooledEmbeddings;
        }

        if (microConditions is { Count: > 0 })
        {
            var perImage = Enumerable.Repeat(microConditions, seeds.Length).SelectMany(m => m).ToArray();   // [batch, 5]
            conditioning.MicroConditions = TensorConvert.FromFloat32(perImage, seeds.Length, microConditions.Count);
        }

        return conditioning;
    }

    /// <summary>The client-facing progress event of one step.</summary>
    public static GenerateEvent ProgressEvent(string stage, StepProgress progress, ByteString preview) => new()
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

    /// <summary>The time since <paramref name="started"/> (a <see cref="TimeProvider"/> timestamp) as a stage timing.</summary>
    public StageTiming Timing(string stage, long started) =>
        new() { Stage = stage, Milliseconds = time.GetElapsedTime(started).TotalMilliseconds };
}
