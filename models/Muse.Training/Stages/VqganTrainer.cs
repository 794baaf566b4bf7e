using System.Diagnostics;
using System.Text.Json;
using Muse.Decoding;
using Muse.Training.Nn;
using TorchSharp;
using static TorchSharp.torch;

namespace Muse.Training.Stages;

/// <summary>
/// Trains the VQGAN: reconstruction (L1 + MSE) + codebook + 0.25·commitment with the straight-through
/// estimator; codes unused for <see cref="RestartEvery"/> steps are re-seeded from random encoder outputs of
/// the current batch (until 85 % of the steps). With <see cref="TrainOptions.EmaCodebook"/> the codebook
/// instead follows the encoder outputs by exponential moving averages (decay 0.99, Laplace-smoothed counts),
/// is initialised from the first batch and restarted every 100 steps; on the scenes it was not better
/// (21.1 vs 20.7 dB at step 600, with unstable usage), so it is off by default.
/// Batches mix whole 64 px scenes with 64 px crops of 128 px scenes, so the fully convolutional model
/// learns both scales at the cost of 64 px images.
/// </summary>
internal sealed class VqganTrainer(TrainOptions options, SceneData data, TextWriter log)
{
    public const string StageName = "vqgan";
    private const ulong StageId = 101;
    private const int RestartEvery = 200;
    private const int EmaRestartEvery = 100;
    private const double EmaDecay = 0.99;
    private const double CommitmentWeight = 0.25;

    /// <summary>The shipped architecture (v5 on): patch encoder, so every token is a function of its own pixels.</summary>
    public static VqganConfig DefaultConfig(bool smoke) => smoke
        ? new VqganConfig { Channels = [8, 8, 16, 16], EmbedDim = 8, CodebookSize = 64, PatchDim = 16 }
        : new VqganConfig { Channels = [16, 24, 32, 48], EmbedDim = 16, CodebookSize = 512, PatchDim = 128 };

    public VqganTrainResult Run()
    {
        var dir = options.StageDir(StageName);
        Directory.CreateDirectory(dir);
        var configPath = Path.Combine(dir, "config.json");
        var decoderOnly = options.DecoderFrom is not null;
        var config = options.Resume && File.Exists(configPath)
            ? StageIo.ReadConfig<VqganConfig>(configPath)
            : decoderOnly
                ? StageIo.ReadConfig<VqganConfig>(Path.Combine(options.DecoderFrom!, "config.json"))
                : options.Vqgan ?? DefaultConfig(options.Smoke);
        File.WriteAllText(configPath, JsonSerializer.Serialize(config, ConfigJson.Options));
        torch.manual_seed((long)(CounterRng.Hash(options.Seed, StageId, 0, 0, (ulong)RngPurpose.WeightInit) >> 1));
        var model = new Vqgan(config);
        var peak = options.LearningRate > 0 ? options.LearningRate : 2e-3;
        // The codebook is updated by EMA, not by the optimizer — except in a decoder-only run, where it stays as kept
        // (an EMA update would move it, and with it every token).
        var ema = options.EmaCodebook && !decoderOnly;
        var restartEvery = ema ? EmaRestartEvery : RestartEvery;
        if (decoderOnly)
        {
            Checkpoint.Load(options.DecoderFrom!, model, null);
            StageIo.Freeze(model.Encoder);
            StageIo.Freeze(model.Quantize);
        }

        var optimizer = decoderOnly
            ? optim.Adam(model.Decoder.parameters(), lr: peak)
            : ema
                ? optim.Adam(model.named_parameters().Where(p => p.name != "quantize.embedding.weight").Select(p => p.parameter), lr: peak)
                : optim.Adam(model.parameters(), lr: peak);
        var updates = new OptimizerStep(model, optimizer, log);
        var batch = options.Batch > 0 ? options.Batch : (options.Smoke ? 4 : 8);
        var crops = options.Crops >= 0 ? options.Crops : batch / 2;
        var k = config.CodebookSize;
        var usage = new float[k];
        var emaCount = zeros(k); // [K]
        var emaSum = zeros(k, config.EmbedDim); // [K, E]
        long step = 0;
        double priorSeconds = 0;
        if (options.Resume && Checkpoint.Exists(dir))
        {
            (step, priorSeconds, _, var arrays) = Checkpoint.Load(dir, model, optimizer);
            usage = arrays[0];
            if (ema)
            {
                emaCount = tensor(arrays[1], [k]);
                emaSum = tensor(arrays[2], [k, config.EmbedDim]);
            }
            log.WriteLine($"resumed at step {step} ({priorSeconds:F0} s so far)");
        }

        log.WriteLine($"vqgan: {model.parameters().Sum(p => p.numel())} parameters, batch {batch}+{crops} crops, {options.Steps} steps, lr {peak}");
        var held = HeldOut();
        var clock = Stopwatch.StartNew();
        var windowClock = Stopwatch.StartNew();
        double lossSum = 0, recSum = 0, codeSum = 0;
        var window = 0;
        var lastPsnr = (P64: 0.0, P128: 0.0, P256: 0.0);
        model.train();
        while (step < options.Steps)
        {
            using (var scope = NewDisposeScope())
            {
                var lr = Schedule.LearningRate(peak, step, options.Steps);
                foreach (var group in optimizer.ParamGroups)
                {
                    group.LearningRate = lr;
                }

                var images = Batch(step, batch, crops, decoderOnly); // [batch + crops, 3, 64, 64]
                if (ema && step == 0)
                {
                    using var noGrad = no_grad();
                    var first = model.Encoder.forward(images).permute(0, 2, 3, 1).reshape(-1, config.EmbedDim);
                    RestartCodes(model, Enumerable.Range(0, k).ToArray(), first, step, emaCount, emaSum);
                }

                var output = model.Forward(images);
                var error = output.Reconstruction - images; // [B, 3, 64, 64]
                var reconstruction = options.ShapeWeight == 1
                    ? error.abs().mean() + error.pow(2).mean()
                    : Weighted(error, images, options.ShapeWeight);
                var loss = reconstruction + (CommitmentWeight * output.CommitmentLoss);
                if (!ema)
                {
                    loss = loss + output.CodebookLoss;
                }
                updates.Apply(loss, step);
                if (ema)
                {
                    UpdateCodebook(model, output.Tokens, output.FlatLatents.detach(), emaCount, emaSum);
                }

                var counts = output.Tokens.bincount(null, k).to_type(ScalarType.Float32).data<float>().ToArray();
                for (var i = 0; i < k; i++)
                {
                    usage[i] += counts[i];
                }

                lossSum += loss.item<float>();
                recSum += reconstruction.item<float>();
                codeSum += output.CodebookLoss.item<float>();
                window++;
                step++;

                if (step % restartEvery == 0)
                {
                    var used = usage.Count(u => u > 0);
                    var restarted = step < options.Steps * 0.85 && !decoderOnly ? RestartDeadCodes(model, usage, output.FlatLatents.detach(), step, emaCount, emaSum) : 0;
                    log.WriteLine($"step {step}: codebook usage {100.0 * used / k:F1}% over the last {restartEvery} steps, perplexity {Perplexity(usage):F1}, restarted {restarted}");
                    Array.Clear(usage);
                }
            }

            if (step % options.LogEvery == 0 || step == options.Steps)
            {
                var rate = window / windowClock.Elapsed.TotalSeconds;
                log.WriteLine($"step {step}/{options.Steps} loss {lossSum / window:F4} rec {recSum / window:F4} codebook {codeSum / window:F5} lr {Schedule.LearningRate(peak, step - 1, options.Steps):E2} {rate:F2} steps/s elapsed {priorSeconds + clock.Elapsed.TotalSeconds:F0}s");
                log.Flush();
                lossSum = recSum = codeSum = 0;
                window = 0;
                windowClock.Restart();
            }

            if (step % options.EvalEvery == 0 || step == options.Steps)
            {
                lastPsnr = Evaluate(model, held);
                log.WriteLine($"step {step}: held-out PSNR 64px {lastPsnr.P64:F2} dB, 128px {lastPsnr.P128:F2} dB, 256px {lastPsnr.P256:F2} dB");
                log.Flush();
            }

            var outOfTime = options.MaxSeconds > 0 && clock.Elapsed.TotalSeconds > options.MaxSeconds;
            if (step % options.CheckpointEvery == 0 || step == options.Steps || outOfTime)
            {
                var seconds = priorSeconds + clock.Elapsed.TotalSeconds;
                var extra = JsonSerializer.SerializeToElement(new { psnr64 = lastPsnr.P64, psnr128 = lastPsnr.P128, psnr256 = lastPsnr.P256 }, ConfigJson.Options);
                Checkpoint.Save(dir, step, seconds, extra, model, optimizer, ema ? [usage, emaCount.data<float>().ToArray(), emaSum.data<float>().ToArray()] : [usage]);
                log.WriteLine($"checkpoint at step {step}");
                log.Flush();
                if (outOfTime)
                {
                    break;
                }
            }
        }

        var final = Evaluate(model, held);
        var totalSeconds = priorSeconds + clock.Elapsed.TotalSeconds;
        // A decoder trained on a VQGAN's frozen encoder carries that VQGAN's training.
        var (initSteps, initSeconds) = decoderOnly ? StageMetrics.Require(options.DecoderFrom!).Training : (0, 0);
        var result = new VqganTrainResult(options.Seed, step, totalSeconds, final.P64, final.P128, CodebookUsage(model, held), initSteps, initSeconds, final.P256);
        File.WriteAllText(Path.Combine(dir, "metrics.json"), JsonSerializer.Serialize(result, ConfigJson.Options));
        log.WriteLine($"vqgan done: step {step}, {totalSeconds:F0} s, held-out PSNR 64px {final.P64:F2} dB, 128px {final.P128:F2} dB, 256px {final.P256:F2} dB");
        return result;
    }

    /// <summary>
    /// L1 + MSE with pixels that differ from the image's corner colour (shapes, not background) weighted by
    /// <paramref name="weight"/>: shapes cover a small part of a scene, so unweighted losses let their colours drift.
    /// </summary>
    private static Tensor Weighted(Tensor error, Tensor images, double weight)
    {
        using var scope = NewDisposeScope();
        var corner = images.narrow(2, 0, 1).narrow(3, 0, 1); // [B, 3, 1, 1]
        var isShape = (images - corner).abs().sum(1, keepdim: true).gt(0.1).to_type(ScalarType.Float32); // [B, 1, H, W]
        var w = 1 + ((weight - 1) * isShape);
        var perPixel = error.abs() + error.pow(2); // [B, 3, H, W]
        return ((perPixel * w).mean() / w.mean()).MoveToOuterDisposeScope();
    }

    private static double Perplexity(float[] usage)
    {
        var total = usage.Sum();
        if (total <= 0)
        {
            return 0;
        }

        var entropy = usage.Where(u => u > 0).Sum(u => -(u / total) * Math.Log(u / total));
        return Math.Exp(entropy);
    }

    /// <summary>EMA codebook update: counts and sums of the latents assigned to each code, Laplace-smoothed.</summary>
    private static void UpdateCodebook(Vqgan model, Tensor ids, Tensor flat, Tensor emaCount, Tensor emaSum)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var k = emaCount.shape[0];
        var counts = ids.bincount(null, k).to_type(ScalarType.Float32); // [K]
        var sums = zeros(k, flat.shape[1]).index_add_(0, ids, flat, 1.0); // [K, E]
        emaCount.mul_(EmaDecay).add_(counts * (1 - EmaDecay));
        emaSum.mul_(EmaDecay).add_(sums * (1 - EmaDecay));
        var n = emaCount.sum();
        var smoothed = (emaCount + 1e-5) / (n + (k * 1e-5)) * n; // [K]
        model.Quantize.Codebook.copy_(emaSum / smoothed.unsqueeze(1));
    }

    /// <summary>Moves every code unused in the window onto a random encoder output of the current batch (plus small noise).</summary>
    private int RestartDeadCodes(Vqgan model, float[] usage, Tensor flat, long step, Tensor emaCount, Tensor emaSum)
    {
        var dead = Enumerable.Range(0, usage.Length).Where(i => usage[i] == 0).ToArray();
        RestartCodes(model, dead, flat, step, emaCount, emaSum);
        return dead.Length;
    }

    private void RestartCodes(Vqgan model, int[] codes, Tensor flat, long step, Tensor emaCount, Tensor emaSum)
    {
        if (codes.Length == 0)
        {
            return;
        }

        var n = flat.shape[0];
        var e = flat.shape[1];
        var picks = codes.Select((_, j) => (long)(CounterRng.Hash(options.Seed, StageId, (ulong)step, (ulong)j, (ulong)RngPurpose.Data) % (ulong)n)).ToArray();
        var noise = new float[codes.Length * e];
        for (var i = 0; i < noise.Length; i++)
        {
            noise[i] = (float)(0.01 * CounterRng.Normal(options.Seed, StageId + 1, (ulong)step, (ulong)i, (ulong)RngPurpose.WeightInit));
        }

        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var index = tensor(codes.Select(d => (long)d).ToArray());
        var rows = flat.index_select(0, tensor(picks)) + tensor(noise, [codes.Length, e]);
        model.Quantize.Codebook.index_copy_(0, index, rows);
        emaSum.index_copy_(0, index, rows);
        emaCount.index_fill_(0, index, 1.0);
    }

    /// <summary>Batch of step <paramref name="step"/>: a pure function of (seed, step), so resuming replays the same data.</summary>
    // Crop origins are any offset that keeps the 64 px crop inside its CropSource-px scene, or with onGrid multiples
    // of 8 (the patches the encoder sees in serving).
    private Tensor Batch(long step, int whole, int crops, bool onGrid)
    {
        var wholeImages = new List<byte[]>(whole);
        for (var j = 0; j < whole; j++)
        {
            wholeImages.Add(data.TrainImage(Pick(step, j), 64));
        }

        var source = options.CropSource;
        var slack = (ulong)(source - 64); // the largest crop origin
        var cropImages = new List<byte[]>(crops);
        var origins = new List<(int X, int Y)>(crops);
        for (var j = 0; j < crops; j++)
        {
            cropImages.Add(data.TrainImage(Pick(step, whole + j), source));
            var h = CounterRng.Hash(options.Seed, StageId, (ulong)step, (ulong)(1000 + j), (ulong)RngPurpose.Data);
            origins.Add(onGrid
                ? (8 * (int)(h % ((slack / 8) + 1)), 8 * (int)((h >> 20) % ((slack / 8) + 1)))
                : ((int)(h % (slack + 1)), (int)((h >> 20) % (slack + 1))));
        }

        var a = ImageBatch.FromRgb(wholeImages, 64);
        if (crops == 0)
        {
            return a;
        }

        var b = ImageBatch.FromRgbCrops(cropImages, source, 64, origins);
        return cat([a, b], 0);
    }

    private int Pick(long step, int j) =>
        (int)(CounterRng.Hash(options.Seed, StageId, (ulong)step, (ulong)j, (ulong)RngPurpose.Data) % (ulong)data.TrainCount);

    private HeldOutImages HeldOut()
    {
        var count64 = options.Smoke ? 4 : 64;
        var count128 = options.Smoke ? 2 : 16;
        var count256 = options.Smoke ? 1 : 8;
        Tensor At(int size, int count) => ImageBatch.FromRgb(Enumerable.Range(0, count).Select(i => data.HeldOutImage(i, size)).ToList(), size);
        return new HeldOutImages(At(64, count64), At(128, count128), At(256, count256));
    }

    private sealed record HeldOutImages(Tensor Held64, Tensor Held128, Tensor Held256);

    private static double CodebookUsage(Vqgan model, HeldOutImages held)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var used = new HashSet<long>(model.Encode(held.Held64).data<long>().ToArray());
        used.UnionWith(model.Encode(held.Held128).data<long>().ToArray());
        return (double)used.Count / model.Config.CodebookSize;
    }

    private static (double P64, double P128, double P256) Evaluate(Vqgan model, HeldOutImages held)
    {
        model.eval();
        try
        {
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            double At(Tensor images) => ImageBatch.Psnr(model.Decode(model.Encode(images)), images);
            return (At(held.Held64), At(held.Held128), At(held.Held256));
        }
        finally
        {
            model.train();
        }
    }
}

/// <summary>What a VQGAN run reached.</summary>
/// <param name="CodebookUsage">Fraction of codes used by the held-out scenes (64 and 128 px).</param>
/// <param name="InitSteps">Training steps behind the VQGAN whose encoder and codebook a decoder-only run kept; 0 otherwise.</param>
/// <param name="InitSeconds">Their wall seconds.</param>
/// <param name="HeldOutPsnr256">Held-out PSNR at 256 px (0 in runs from before it was measured).</param>
internal sealed record VqganTrainResult(ulong Seed, long Steps, double Seconds, double HeldOutPsnr64, double HeldOutPsnr128, double CodebookUsage, long InitSteps = 0, double InitSeconds = 0, double HeldOutPsnr256 = 0);
