using System.Diagnostics;
using System.Text.Json;
using Muse.Decoding;
using Muse.Training.Nn;
using TorchSharp;
using static TorchSharp.torch;

namespace Muse.Training.Stages;

/// <summary>
/// Trains the masked transformers on VQGAN tokens of the scenes. Stage <c>text+base</c> trains the T5 text
/// encoder jointly with the base transformer (8×8 tokens of 64 px scenes): the caption grammar is tiny, so
/// a text encoder trained end to end on the denoising loss learns exactly the distinctions the images need,
/// and no separate pre-training corpus exists. Stage <c>sr</c> freezes that T5 and trains the SR transformer
/// (16×16 tokens of 128 px scenes, conditioned on text and the 8×8 tokens of the same scene at 64 px).
/// Loss: cross-entropy on masked positions; the masking ratio follows the cosine MaskSchedule; 10 % of
/// captions are replaced by the empty text "" (the unconditional row of classifier-free guidance).
/// </summary>
internal sealed class TransformerTrainer(TrainOptions options, SceneData data, TextWriter log, bool superResolution)
{
    public const string BaseStageName = "text+base";
    public const string SrStageName = "sr";
    private const double ConditionDropout = 0.1;
    private const int HeldOutCount = 128;
    private const int EvaluateChunk = 16;

    private ulong StageId => superResolution ? 203UL : 202UL;

    private string StageName => superResolution ? SrStageName : BaseStageName;

    // The T5 is fixed for sr (its embeddings are precomputed) and for a base run continued with --freeze-text.
    private bool TextFrozen => superResolution || options.FreezeText;

    public static T5Config DefaultT5(bool smoke, int vocabSize) => smoke
        ? new T5Config { VocabSize = vocabSize, DModel = 16, NumHeads = 2, DFf = 32, NumLayers = 1 }
        : new T5Config { VocabSize = vocabSize, DModel = 64, NumHeads = 4, DFf = 128, NumLayers = 2 };

    public static TransformerConfig DefaultBase(bool smoke, int codebookSize, int textDim) => smoke
        ? new TransformerConfig { Role = "base", CodebookSize = codebookSize, DModel = 16, NumHeads = 2, NumLayers = 1, MlpDim = 32, TextDim = textDim }
        : new TransformerConfig { Role = "base", CodebookSize = codebookSize, DModel = 96, NumHeads = 4, NumLayers = 3, MlpDim = 192, TextDim = textDim };

    /// <summary>The SR of a new run: <paramref name="grid"/>×<paramref name="grid"/> tokens over the base's 8×8.</summary>
    public static TransformerConfig DefaultSr(bool smoke, int codebookSize, int textDim, int grid = 16) => smoke
        ? new TransformerConfig { Role = "sr", CodebookSize = codebookSize, GridHeight = grid, GridWidth = grid, LowResGridHeight = 8, LowResGridWidth = 8, AlignedLowRes = true, DModel = 16, NumHeads = 2, NumLayers = 1, MlpDim = 32, TextDim = textDim }
        : new TransformerConfig { Role = "sr", CodebookSize = codebookSize, GridHeight = grid, GridWidth = grid, LowResGridHeight = 8, LowResGridWidth = 8, AlignedLowRes = true, DModel = 64, NumHeads = 4, NumLayers = 3, MlpDim = 128, TextDim = textDim };

    private TransformerConfig Sized(TransformerConfig config) => options.TransformerSize is { } size
        ? config with { DModel = size.DModel, NumLayers = size.NumLayers, MlpDim = size.MlpDim }
        : config;

    public TransformerTrainResult Run()
    {
        var dir = options.StageDir(StageName);
        Directory.CreateDirectory(dir);
        var vqgan = StageIo.LoadVqgan(options.StageDir(VqganTrainer.StageName));
        var tokenizer = new CaptionTokenizer(32);
        var k = vqgan.Config.CodebookSize;

        // Tokens of every scene, computed once with the trained (frozen) VQGAN encoder.
        log.WriteLine($"{StageName}: tokenizing {data.TrainCount} training and {(options.Smoke ? 8 : HeldOutCount)} held-out scenes");
        log.Flush();
        var clock = Stopwatch.StartNew();
        var heldCount = options.Smoke ? 8 : HeldOutCount;
        var low = StageIo.TokenCache(dir, "train64", options.Seed, vqgan, data.TrainCount, i => data.TrainImage(i, 64), 64);
        var heldLow = StageIo.TokenCache(dir, "held64", options.Seed, vqgan, heldCount, i => data.HeldOutImage(i, 64), 64);
        long[][]? high = null, heldHigh = null;
        TransformerConfig? srConfig = null;
        if (superResolution)
        {
            // The SR's grid decides the scene size of its targets (a resumed run keeps its config's).
            // A fine-tune (--init-from) keeps the config of the SR it starts from.
            srConfig = StageIo.ReadOrCreate(
                Path.Combine(dir, "config.json"), options.Resume,
                () => options.InitFrom is { } from
                    ? StageIo.ReadTransformerConfig(from)
                    : Sized(DefaultSr(options.Smoke, k, StageIo.ReadConfig<T5Config>(Path.Combine(options.StageDir(BaseStageName), "t5.config.json")).DModel, options.SrSize / vqgan.Config.DownsampleFactor)));
            var size = srConfig.GridWidth * vqgan.Config.DownsampleFactor;
            high = StageIo.TokenCache(dir, $"train{size}", options.Seed, vqgan, data.TrainCount, i => data.TrainImage(i, size), size);
            heldHigh = StageIo.TokenCache(dir, $"held{size}", options.Seed, vqgan, heldCount, i => data.HeldOutImage(i, size), size);
        }

        var captions = Enumerable.Range(0, data.TrainCount).Select(i => tokenizer.Encode(data.Train(i).Caption)).ToArray();
        var heldCaptions = Enumerable.Range(0, heldCount).Select(i => tokenizer.Encode(data.HeldOut(i).Caption)).ToArray();
        var empty = tokenizer.Encode("");
        log.WriteLine($"{StageName}: tokens ready in {clock.Elapsed.TotalSeconds:F0} s; text vocabulary {tokenizer.VocabSize}");
        File.WriteAllBytes(Path.Combine(dir, "spiece.model"), tokenizer.ModelBytes);

        torch.manual_seed((long)(CounterRng.Hash(options.Seed, StageId, 0, 0, (ulong)RngPurpose.WeightInit) >> 1));
        nn.Module model;
        T5Encoder t5;
        MaskedTransformer transformer;
        if (superResolution)
        {
            t5 = StageIo.LoadT5(options.StageDir(BaseStageName));
            t5.eval();
            transformer = new MaskedTransformer(srConfig!);
            if (options.InitFrom is { } from && !(options.Resume && Checkpoint.Exists(dir)))
            {
                Checkpoint.Load(from, transformer, null);
                log.WriteLine($"{StageName}: initialised from {from}");
            }

            model = transformer;
        }
        else
        {
            var fresh = !(options.Resume && Checkpoint.Exists(dir));
            var initText = options.InitTextFrom is { } from && fresh ? StageIo.LoadT5(from) : null;
            var initJoint = options.InitFrom is { } whole && fresh ? StageIo.LoadTextBase(whole) : null;
            var t5Config = StageIo.ReadOrCreate(Path.Combine(dir, "t5.config.json"), options.Resume, () => initJoint?.T5.Config ?? initText?.Config ?? DefaultT5(options.Smoke, tokenizer.VocabSize));
            var baseConfig = StageIo.ReadOrCreate(Path.Combine(dir, "config.json"), options.Resume, () => initJoint?.Base.Config ?? Sized(DefaultBase(options.Smoke, k, t5Config.DModel)));
            var joint = new TextBase(t5Config, baseConfig);
            if (initText is not null)
            {
                // Same config, so the state dicts match name for name.
                joint.T5.load_state_dict(initText.state_dict());
                log.WriteLine($"{StageName}: T5 initialised from {options.InitTextFrom}");
            }

            if (initJoint is not null)
            {
                joint.load_state_dict(initJoint.state_dict());
                log.WriteLine($"{StageName}: T5 and base initialised from {options.InitFrom}");
            }

            t5 = joint.T5;
            transformer = joint.Base;
            model = joint;
        }

        var n = transformer.Config.GridHeight * transformer.Config.GridWidth;
        var peak = options.LearningRate > 0 ? options.LearningRate : 1e-3;
        var optimizer = optim.AdamW(model.parameters(), lr: peak, weight_decay: 0.01);
        var updates = new OptimizerStep(model, optimizer, log);
        var batch = options.Batch > 0 ? options.Batch : (options.Smoke ? 4 : superResolution ? 16 : 32);
        long step = 0;
        double priorSeconds = 0;
        if (options.Resume && Checkpoint.Exists(dir))
        {
            (step, priorSeconds, _, _) = Checkpoint.Load(dir, model, optimizer);
            log.WriteLine($"resumed at step {step} ({priorSeconds:F0} s so far)");
        }

        if (options.FreezeText && !superResolution)
        {
            StageIo.Freeze(t5);
            log.WriteLine($"{StageName}: T5 frozen (--freeze-text)");
        }

        log.WriteLine($"{StageName}: {model.parameters().Sum(p => p.numel())} parameters, batch {batch}, {options.Steps} steps, lr {peak}, grid {transformer.Config.GridHeight}×{transformer.Config.GridWidth}, corrupted visible share {options.CorruptVisible}");
        log.Flush();

        // Frozen text encoder (sr): embeddings of every caption computed once.
        Tensor? textTable = null, heldTextTable = null, emptyText = null;
        if (superResolution)
        {
            using var noGrad = no_grad();
            textTable = StageIo.Embed(t5, captions);
            heldTextTable = StageIo.Embed(t5, heldCaptions);
            emptyText = StageIo.Embed(t5, [empty]);
        }

        clock.Restart();
        var windowClock = Stopwatch.StartNew();
        double lossSum = 0, accSum = 0;
        var window = 0;
        (double Loss, double Accuracy) EvaluateHeldOut() =>
            Evaluate(model, t5, transformer, n, heldCount, superResolution ? heldHigh! : heldLow, heldLow, heldCaptions, empty, heldTextTable, emptyText);
        var lastEval = (Loss: double.NaN, Accuracy: double.NaN);
        long lastEvalStep = -1;
        model.train();
        t5.train(!TextFrozen);
        while (step < options.Steps)
        {
            using (var scope = NewDisposeScope())
            {
                var lr = Schedule.LearningRate(peak, step, options.Steps);
                foreach (var group in optimizer.ParamGroups)
                {
                    group.LearningRate = lr;
                }

                var indices = Enumerable.Range(0, batch).Select(j => Pick(step, j)).ToArray();
                var dropped = Enumerable.Range(0, batch).Select(j => CounterRng.Uniform(options.Seed, StageId, (ulong)step, (ulong)j, (ulong)RngPurpose.Sample) < ConditionDropout).ToArray();
                var (loss, accuracy) = Loss(
                    t5, transformer, indices, dropped, step, n,
                    superResolution ? high! : low, low, captions, empty, textTable, emptyText, fixedRatio: null, options.CorruptVisible,
                    superResolution ? options.SrCrop : 0);
                updates.Apply(loss, step);
                lossSum += loss.item<float>();
                accSum += accuracy;
                window++;
                step++;
            }

            if (step % options.LogEvery == 0 || step == options.Steps)
            {
                var rate = window / windowClock.Elapsed.TotalSeconds;
                log.WriteLine($"step {step}/{options.Steps} loss {lossSum / window:F4} masked-acc {accSum / window:F3} lr {Schedule.LearningRate(peak, step - 1, options.Steps):E2} {rate:F2} steps/s elapsed {priorSeconds + clock.Elapsed.TotalSeconds:F0}s");
                log.Flush();
                lossSum = accSum = 0;
                window = 0;
                windowClock.Restart();
            }

            if (step % options.EvalEvery == 0 || step == options.Steps)
            {
                lastEval = EvaluateHeldOut();
                lastEvalStep = step;
                log.WriteLine($"step {step}: held-out masked CE {lastEval.Loss:F4}, accuracy {lastEval.Accuracy:F3} (ratio 0.5)");
                log.Flush();
            }

            var outOfTime = options.MaxSeconds > 0 && clock.Elapsed.TotalSeconds > options.MaxSeconds;
            if (step % options.CheckpointEvery == 0 || step == options.Steps || outOfTime)
            {
                var extra = JsonSerializer.SerializeToElement(new { heldOutLoss = lastEval.Loss, heldOutAccuracy = lastEval.Accuracy }, ConfigJson.Options);
                Checkpoint.Save(dir, step, priorSeconds + clock.Elapsed.TotalSeconds, extra, model, optimizer);
                log.WriteLine($"checkpoint at step {step}");
                log.Flush();
                if (outOfTime)
                {
                    break;
                }
            }
        }

        // The last step was just evaluated unless a time limit stopped the run between evaluations.
        var final = lastEvalStep == step
            ? lastEval
            : EvaluateHeldOut();
        // The T5's own training (its provenance): a T5 started from another run (--init-text) carries that run's,
        // plus this run's unless it was frozen.
        var seconds = priorSeconds + clock.Elapsed.TotalSeconds;
        var (textSteps, textSeconds) = (options.InitTextFrom ?? options.InitFrom) is { } textFrom && !superResolution ? StageMetrics.Require(textFrom).TextTraining : (0, 0);
        var (initSteps, initSeconds) = options.InitFrom is { } initFrom ? StageMetrics.Require(initFrom).Training : (0, 0);
        if (!options.FreezeText)
        {
            (textSteps, textSeconds) = (textSteps + step, textSeconds + seconds);
        }

        var result = new TransformerTrainResult(options.Seed, step, seconds, final.Loss, final.Accuracy, superResolution ? 0 : textSteps, superResolution ? 0 : textSeconds, initSteps, initSeconds);
        File.WriteAllText(Path.Combine(dir, "metrics.json"), JsonSerializer.Serialize(result, ConfigJson.Options));
        log.WriteLine($"{StageName} done: step {step}, {result.Seconds:F0} s, held-out masked CE {final.Loss:F4}, accuracy {final.Accuracy:F3}");
        log.Flush();
        return result;
    }

    private int Pick(long step, int j) =>
        (int)(CounterRng.Hash(options.Seed, StageId, (ulong)step, (ulong)j, (ulong)RngPurpose.Data) % (ulong)data.TrainCount);

    /// <summary>Masked cross-entropy of one batch; returns (loss tensor, masked-token accuracy).</summary>
    private (Tensor Loss, double Accuracy) Loss(
        T5Encoder t5, MaskedTransformer transformer, int[] indices, bool[] dropped, long step, int n,
        long[][] targets, long[][] lowRes, (long[] Ids, long[] Mask)[] captions, (long[] Ids, long[] Mask) empty,
        Tensor? textTable, Tensor? emptyText, double? fixedRatio, double corruptVisible = 0, int crop = 0)
    {
        var b = indices.Length;
        var (gridH, gridW) = (transformer.Config.GridHeight, transformer.Config.GridWidth);
        var cropping = crop > 0 && crop < Math.Min(gridH, gridW);
        long[]? window = null; // [B, crop²]: the grid positions of each sample's window
        if (cropping)
        {
            n = crop * crop;
            window = new long[b * n];
            for (var j = 0; j < b; j++)
            {
                Masking.Window(options.Seed, StageId, step, j, gridH, gridW, crop).CopyTo(window, j * n);
            }
        }

        var input = new long[b * n];
        var target = new long[b * n];
        var maskedFlat = new List<long>(); // every scored position: masked, and visible but corrupted
        for (var j = 0; j < b; j++)
        {
            var truth = window is null
                ? targets[indices[j]]
                : Enumerable.Range(0, n).Select(i => targets[indices[j]][window[(j * n) + i]]).ToArray();
            var masked = Masking.Draw(options.Seed, StageId, step, j, n, fixedRatio);
            var corrupted = Masking.Corrupt(options.Seed, StageId, step, j, masked, truth, transformer.Config.CodebookSize, corruptVisible);
            for (var i = 0; i < n; i++)
            {
                target[(j * n) + i] = truth[i];
                input[(j * n) + i] = masked[i] ? transformer.MaskTokenId : corrupted[i] >= 0 ? corrupted[i] : truth[i];
                if (masked[i] || corrupted[i] >= 0)
                {
                    maskedFlat.Add((j * n) + i);
                }
            }
        }

        var tokens = tensor(input, [b, n]); // [B, N]
        var l = t5.Config.MaxLength;
        Tensor textEmbeddings; // [B, L, Dt]
        Tensor textMask; // [B, L]
        var maskData = new float[b * l];
        for (var j = 0; j < b; j++)
        {
            var m = dropped[j] ? empty.Mask : captions[indices[j]].Mask;
            for (var i = 0; i < l; i++)
            {
                maskData[(j * l) + i] = m[i];
            }
        }

        textMask = tensor(maskData, [b, l]);
        if (textTable is null)
        {
            var ids = new long[b * l];
            for (var j = 0; j < b; j++)
            {
                Array.Copy(dropped[j] ? empty.Ids : captions[indices[j]].Ids, 0, ids, j * l, l);
            }

            textEmbeddings = t5.Forward(tensor(ids, [b, l]), textMask);
        }
        else
        {
            var rows = textTable.index_select(0, tensor(indices.Select(i => (long)i).ToArray())); // [B, L, Dt]
            var drop = tensor(dropped.Select(d => d ? 1f : 0f).ToArray(), [b, 1, 1]);
            textEmbeddings = (rows * (1 - drop)) + (emptyText! * drop);
        }

        Tensor? lowResTokens = null;
        if (superResolution)
        {
            var m = transformer.Config.LowResGridHeight * transformer.Config.LowResGridWidth;
            var lowData = new long[b * m];
            for (var j = 0; j < b; j++)
            {
                Array.Copy(lowRes[indices[j]], 0, lowData, j * m, m);
            }

            lowResTokens = tensor(lowData, [b, m]);
        }

        var logits = transformer.Forward(tokens, textEmbeddings, textMask, lowResTokens, window is null ? null : tensor(window, [b, n])); // [B, N, K]
        var positions = tensor(maskedFlat.ToArray());
        var picked = logits.reshape(-1, logits.shape[2]).index_select(0, positions); // [masked, K]
        var wanted = tensor(target).index_select(0, positions); // [masked]
        var loss = nn.functional.cross_entropy(picked, wanted);
        double accuracy;
        using (no_grad())
        {
            accuracy = picked.argmax(1).eq(wanted).to_type(ScalarType.Float32).mean().item<float>();
        }

        return (loss, accuracy);
    }

    private (double Loss, double Accuracy) Evaluate(
        nn.Module model, T5Encoder t5, MaskedTransformer transformer, int n, int count, long[][] targets, long[][] lowRes,
        (long[] Ids, long[] Mask)[] captions, (long[] Ids, long[] Mask) empty, Tensor? textTable, Tensor? emptyText)
    {
        model.eval();
        try
        {
            // In chunks: a whole 32×32 grid's attention over 128 scenes at once would take gigabytes. At ratio 0.5
            // every scene scores the same number of positions, so the mean of chunk means (weighted by size) is exact.
            using var noGrad = no_grad();
            double lossSum = 0, accuracySum = 0;
            for (var start = 0; start < count; start += EvaluateChunk)
            {
                using var scope = NewDisposeScope();
                var indices = Enumerable.Range(start, Math.Min(EvaluateChunk, count - start)).ToArray();
                var (loss, accuracy) = Loss(t5, transformer, indices, new bool[indices.Length], -1, n, targets, lowRes, captions, empty, textTable, emptyText, fixedRatio: 0.5);
                lossSum += loss.item<float>() * indices.Length;
                accuracySum += accuracy * indices.Length;
            }

            return (lossSum / count, accuracySum / count);
        }
        finally
        {
            model.train();
            t5.train(!TextFrozen);
        }
    }
}

/// <summary>What a transformer run reached (held-out masked cross-entropy and accuracy at mask ratio 0.5).</summary>
/// <param name="TextSteps">text+base: the training steps behind its T5, counting the run it started from (<c>--init-text</c>).</param>
/// <param name="TextSeconds">Their wall seconds.</param>
/// <param name="InitSteps">text+base with <c>--init-from</c>: the training steps behind the base it started from.</param>
/// <param name="InitSeconds">Their wall seconds.</param>
internal sealed record TransformerTrainResult(ulong Seed, long Steps, double Seconds, double HeldOutLoss, double HeldOutAccuracy, long TextSteps = 0, double TextSeconds = 0, long InitSteps = 0, double InitSeconds = 0);
