using Muse.Decoding;
using Muse.Imaging;
using Muse.Orchestrator.Replicas;
using Muse.Protos;
using Muse.Protos.V1;
using Muse.Repository;

namespace Muse.Orchestrator.Generation;

/// <summary>
/// Runs one Generate request through the stages (docs/architecture.md, "One request, end to end"): text → base
/// loop → SR loop (when the pipeline has one) → pixels. Owns the token state; the replicas only sample.
/// </summary>
public sealed class Generator(StageRunner runner, IStageGateway stages, TimeProvider time)
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
        var text = await runner.EncodeTextAsync(models.TextEncoder, settings, deadline, ct);
        timings.Add(runner.Timing(Stages.TextEncoder, stageStarted));

        // 2. Base loop: every token of the low-resolution grid starts masked.
        stageStarted = time.GetTimestamp();
        var baseModel = models.Base;
        var baseStates = seeds.Select(_ => TokenState.AllMasked(baseModel.GridHeight, baseModel.GridWidth, baseModel.MaskTokenId)).ToArray();
        var baseConditioning = StageRunner.Conditioning(baseModel, text, seeds, lowResTokens: null, models.Defaults.MicroConditions);
        await runner.DecodeStageAsync(baseModel, DecodeStage.Base, baseConditioning, baseStates, settings.Decoding.Base, seeds, deadline, async progress =>
            await emit(await runner.ProgressWithPreviewAsync(Stages.Base, progress, settings.PreviewEvery, models.ImageTokenizer, baseStates[0], deadline, ct)),
            ct);
        timings.Add(runner.Timing(Stages.Base, stageStarted));

        // 3. Super-resolution loop, conditioned on the text and the finished low-resolution tokens; a pipeline without
        // SR (aMUSEd) detokenizes the base tokens.
        var finalStates = baseStates;
        if (models.SuperResolution is { } srModel)
        {
            stageStarted = time.GetTimestamp();
            var lowRes = TensorConvert.FromInt32(Concat(baseStates), batch, baseModel.GridHeight, baseModel.GridWidth);   // [batch, h, w]
            var srStates = seeds.Select(_ => TokenState.AllMasked(srModel.GridHeight, srModel.GridWidth, srModel.MaskTokenId)).ToArray();
            var srConditioning = StageRunner.Conditioning(srModel, text, seeds, lowRes, models.Defaults.MicroConditions);
            await runner.DecodeStageAsync(srModel, DecodeStage.SuperResolution, srConditioning, srStates, settings.Decoding.SuperResolution, seeds, deadline, async progress =>
                await emit(await runner.ProgressWithPreviewAsync(Stages.SuperResolution, progress, settings.PreviewEvery, models.ImageTokenizer, srStates[0], deadline, ct)),
                ct);
            timings.Add(runner.Timing(Stages.SuperResolution, stageStarted));
            finalStates = srStates;
        }

        // 4. Pixels.
        stageStarted = time.GetTimestamp();
        var final = models.Final;
        var tokens = TensorConvert.FromInt32(Concat(finalStates), batch, final.GridHeight, final.GridWidth);   // [batch, h, w]
        // Raw pixels: the final file is written here anyway, so a PNG from the tokenizer would only be decoded again.
        var image = await stages.DetokenizeAsync(models.ImageTokenizer, tokens, PixelEncoding.Rgb24, deadline, ct);
        // The final encoding carries each image's own parameters (its seed, not the request's), so image k equals a
        // 1-image request with seed ImageSeed(seed, k) byte for byte.
        var images = image.Images.Select((rgb, k) =>
        {
            var encoded = ImageEncoding.EncodeRgb24(
                rgb.Span, image.Width, image.Height, ParametersOf(settings, k), settings.OutputFormat, settings.Quality);
            encoded.Index = k;
            return encoded;
        }).ToList();
        timings.Add(runner.Timing(Stages.ImageTokenizer, stageStarted));
        timings.Add(runner.Timing("total", started));

        var result = new Result
        {
            Image = images[0].Image,
            Width = images[0].Width,
            Height = images[0].Height,
            Seed = settings.Seed,
            RequestId = settings.RequestId,
        };
        result.Images.AddRange(images);
        result.Models.AddRange(StageRunner.Reported(models));
        result.Timings.AddRange(timings);
        return result;
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
        Recompete = settings.Decoding.Base.Recompete,
        SrRecompete = settings.Decoding.SuperResolution.Recompete,
        Pipeline = settings.Models.Pipeline,
        Models = [.. settings.Models.Models.Select(m => new ModelVersion(m.Stage, m.Model.Name, m.Model.Version))],
    };
}
