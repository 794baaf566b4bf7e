using Google.Protobuf;
using Muse.Decoding;
using Muse.Hosting;
using Muse.Imaging;
using Muse.Orchestrator.Replicas;
using Muse.Protos;
using Muse.Protos.V1;
using Muse.Repository;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace Muse.Orchestrator.Generation;

/// <summary>
/// Zero-shot editing (Muse §4.3): the image is tokenized at both grids, the tokens to change are masked and
/// decoded again under the prompt with every other token fixed (<see cref="TokenState.ForEditing"/>) — base grid
/// first, then the super-resolution grid conditioned on the new base tokens — and decoded to pixels.
/// Untrusted image bytes pass the shared <see cref="ImageUploadGuard"/> before anything else reads them.
/// </summary>
public sealed class Editor(StageRunner runner, IStageGateway stages, ImageUploadGuard guard, TimeProvider time)
{
    /// <summary>Runs the edit, reporting progress events through <paramref name="emit"/>.</summary>
    public async Task<Result> EditAsync(EditSettings settings, Func<GenerateEvent, Task> emit, DateTime? deadline, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(emit);
        var common = settings.Common;
        var models = common.Models;
        var factor = models.ImageTokenizer.DownsampleFactor;
        var sr = models.SuperResolution;                                // null: the base model decodes at full size (aMUSEd)
        var size = models.Final.GridWidth * factor;                     // output side: the final grid × the tokenizer's downsampling
        var baseSize = models.Base.GridWidth * factor;                  // 64 px
        var timings = new List<StageTiming>();
        var started = time.GetTimestamp();

        // 1. Pixels in: the upload guard, the size rule, the canvas and the pixel mask ([size, size], 1 = regenerate).
        var stageStarted = time.GetTimestamp();
        using var canvas = Prepare(settings, size, out var pixelMask);
        using var small = EditImages.Resized(canvas, baseSize, baseSize);
        var baseTokens = await TokenizeAsync(models.ImageTokenizer, models.Base, small, deadline, ct);
        var srTokens = sr is null ? null : await TokenizeAsync(models.ImageTokenizer, sr, canvas, deadline, ct);
        timings.Add(runner.Timing("tokenize", stageStarted));

        // 2. Text.
        stageStarted = time.GetTimestamp();
        var text = await runner.EncodeTextAsync(models.TextEncoder, common, deadline, ct);
        timings.Add(runner.Timing(Stages.TextEncoder, stageStarted));

        // 3. The decoding loops.
        var loops = new Loops(runner, text, common, emit, deadline, timings, time, ct);
        if (settings.Mode == EditMode.MaskFree)
        {
            (baseTokens, srTokens) = await MaskFreeAsync(loops, settings, baseTokens, srTokens);
        }
        else
        {
            var baseMask = EditMasks.FromPixelMask(pixelMask!, size, size, models.Base.GridHeight, models.Base.GridWidth, settings.Dilation);
            baseTokens = await loops.BaseAsync(baseTokens, baseMask, common.Seed, round: 0, rounds: 0);
            if (sr is not null)
            {
                var srMask = EditMasks.FromPixelMask(pixelMask!, size, size, sr.GridHeight, sr.GridWidth, settings.Dilation);
                srTokens = await loops.SuperResolutionAsync(srTokens!, srMask, baseTokens, common.Seed, round: 0, rounds: 0);
            }
        }

        // 4. Pixels out, with the original pasted back outside the edited region.
        stageStarted = time.GetTimestamp();
        var final = models.Final;
        // Raw pixels, encoded once here (after the paste, when there is one): the same PNG the tokenizer would write.
        var reply = await stages.DetokenizeAsync(
            models.ImageTokenizer, TensorConvert.FromInt32(srTokens ?? baseTokens, 1, final.GridHeight, final.GridWidth), PixelEncoding.Rgb24, deadline, ct);
        using var generated = Image.LoadPixelData<Rgb24>(reply.Images[0].Span, reply.Width, reply.Height);
        if (settings.Blend && pixelMask is not null)
        {
            EditImages.PasteOutsideMask(generated, canvas, pixelMask);
        }

        var png = UnsafeByteOperations.UnsafeWrap(EditImages.ToPng(generated)); // a fresh array, never written again

        timings.Add(runner.Timing(Stages.ImageTokenizer, stageStarted));
        timings.Add(runner.Timing("total", started));

        var result = new Result { Image = png, Width = reply.Width, Height = reply.Height, Seed = common.Seed, RequestId = common.RequestId };
        result.Images.Add(new GeneratedImage { Image = png, Seed = common.Seed, Width = reply.Width, Height = reply.Height, Format = ImageFormat.Png });
        result.Models.AddRange(StageRunner.Reported(models));
        result.Timings.AddRange(timings);
        return result;
    }

    /// <summary>
    /// The seed of one mask-free round at one stage: it picks the round's tokens and drives its sampling, so every
    /// round and stage draws fresh noise. A pure function of the request seed; the position coordinate is one no
    /// token uses, so it never coincides with a per-token draw.
    /// </summary>
    public static ulong RoundSeed(ulong seed, DecodeStage stage, int round) =>
        CounterRng.Hash(seed, (ulong)stage, (ulong)round, ulong.MaxValue, (ulong)RngPurpose.EditMask);

    // Rounds r = 0..R-1: a fresh random subset of each grid is masked and decoded again under the new prompt.
    private static async Task<(int[] Base, int[]? SuperResolution)> MaskFreeAsync(Loops loops, EditSettings settings, int[] baseTokens, int[]? srTokens)
    {
        var seed = settings.Common.Seed;
        for (var round = 0; round < settings.Iterations; round++)
        {
            var baseSeed = RoundSeed(seed, DecodeStage.Base, round);
            var baseMask = EditMasks.RandomSubset(baseSeed, round, Count(settings.MaskFraction, baseTokens.Length), baseTokens.Length);
            baseTokens = await loops.BaseAsync(baseTokens, baseMask, baseSeed, round + 1, settings.Iterations);

            if (srTokens is null)
            {
                continue;   // no SR stage
            }

            var srSeed = RoundSeed(seed, DecodeStage.SuperResolution, round);
            var srMask = EditMasks.RandomSubset(srSeed, round, Count(settings.MaskFraction, srTokens.Length), srTokens.Length);
            srTokens = await loops.SuperResolutionAsync(srTokens, srMask, baseTokens, srSeed, round + 1, settings.Iterations);
        }

        return (baseTokens, srTokens);
    }

    // At least one token, so every round changes something.
    private static int Count(float fraction, int length) => Math.Clamp((int)Math.Ceiling(fraction * length), 1, length);

    private Image<Rgb24> Prepare(EditSettings settings, int size, out byte[]? pixelMask)
    {
        using var image = Load(settings.Image, "image");
        switch (settings.Mode)
        {
            case EditMode.Inpaint:
            {
                var header = guard.Inspect(settings.Mask, "inpaint.mask");
                if (header.Width != image.Width || header.Height != image.Height)
                {
                    MuseValidation.ThrowInvalidArgument(
                        "inpaint.mask", $"is {header.Width}×{header.Height} px but the image is {image.Width}×{image.Height} px; they must match.");
                }

                var square = EditImages.ToSquare(image, size);
                try
                {
                    using var mask = guard.Load(settings.Mask, header, "inpaint.mask");
                    pixelMask = EditImages.InpaintMask(mask, size);
                    return square;
                }
                catch
                {
                    square.Dispose();
                    throw;
                }
            }

            case EditMode.Outpaint:
            {
                var (canvas, mask) = EditImages.OutpaintCanvas(image, settings.Margins, size);
                pixelMask = mask;
                return canvas;
            }

            default:
                pixelMask = null;
                return EditImages.ToSquare(image, size);
        }
    }

    private Image<Rgb24> Load(ReadOnlyMemory<byte> upload, string field) => guard.Load(upload, guard.Inspect(upload, field), field);

    // The grid the tokenizer returns must be the transformer's: the image was resized to fit it.
    private async Task<int[]> TokenizeAsync(ModelManifest tokenizer, ModelManifest transformer, Image<Rgb24> image, DateTime? deadline, CancellationToken ct)
    {
        var reply = await stages.TokenizeAsync(tokenizer, EditImages.ToPng(image), deadline, ct);
        var shape = reply.Tokens.Shape;
        if (shape.Count != 3 || shape[1] != transformer.GridHeight || shape[2] != transformer.GridWidth)
        {
            MuseValidation.ThrowFailedPrecondition(
                $"Tokenizer {tokenizer.Id} gave a [{string.Join(", ", shape)}] grid for a {image.Width}×{image.Height} px image; "
                + $"{transformer.Id} needs {transformer.GridHeight}×{transformer.GridWidth}.");
        }

        return TensorConvert.ToInt32(reply.Tokens, "tokens");
    }

    /// <summary>The two decoding loops of one edit, sharing its text, settings and progress stream.</summary>
    private sealed class Loops(
        StageRunner runner, EncodeReply text, GenerateSettings settings, Func<GenerateEvent, Task> emit, DateTime? deadline,
        List<StageTiming> timings, TimeProvider time, CancellationToken ct)
    {
        private Pipelines.PipelineChoice Models => settings.Models;

        public async Task<int[]> BaseAsync(int[] tokens, bool[] editMask, ulong seed, int round, int rounds)
        {
            var started = time.GetTimestamp();
            var model = Models.Base;
            var states = new[] { TokenState.ForEditing(model.GridHeight, model.GridWidth, model.MaskTokenId, tokens, editMask) };
            ulong[] seeds = [seed];
            await runner.DecodeStageAsync(model, DecodeStage.Base, StageRunner.Conditioning(model, text, seeds, lowResTokens: null, Models.Defaults.MicroConditions), states,
                settings.Decoding.Base, seeds, deadline, async progress => await emit(WithRound(
                    await runner.ProgressWithPreviewAsync(Stages.Base, progress, settings.PreviewEvery, Models.ImageTokenizer, states[0], deadline, ct),
                    round, rounds)),
                ct);
            Add(Stages.Base, started);
            return states[0].Tokens;
        }

        public async Task<int[]> SuperResolutionAsync(int[] tokens, bool[] editMask, int[] baseTokens, ulong seed, int round, int rounds)
        {
            var started = time.GetTimestamp();
            var model = Models.SuperResolution ?? throw new InvalidOperationException($"Pipeline {Models.Pipeline} has no super-resolution stage.");
            var lowRes = TensorConvert.FromInt32(baseTokens, 1, Models.Base.GridHeight, Models.Base.GridWidth);   // [1, h, w]
            var states = new[] { TokenState.ForEditing(model.GridHeight, model.GridWidth, model.MaskTokenId, tokens, editMask) };
            ulong[] seeds = [seed];
            await runner.DecodeStageAsync(model, DecodeStage.SuperResolution, StageRunner.Conditioning(model, text, seeds, lowRes, Models.Defaults.MicroConditions), states,
                settings.Decoding.SuperResolution, seeds, deadline, async progress => await emit(WithRound(
                    await runner.ProgressWithPreviewAsync(Stages.SuperResolution, progress, settings.PreviewEvery, Models.ImageTokenizer, states[0], deadline, ct),
                    round, rounds)),
                ct);
            Add(Stages.SuperResolution, started);
            return states[0].Tokens;
        }

        private static GenerateEvent WithRound(GenerateEvent progress, int round, int rounds)
        {
            progress.Progress.Round = round;
            progress.Progress.Rounds = rounds;
            return progress;
        }

        // Rounds add up: one timing per stage, however many rounds ran.
        private void Add(string stage, long started)
        {
            var elapsed = runner.Timing(stage, started);
            var existing = timings.Find(t => t.Stage == stage);
            if (existing is null)
            {
                timings.Add(elapsed);
            }
            else
            {
                existing.Milliseconds += elapsed.Milliseconds;
            }
        }
    }
}
