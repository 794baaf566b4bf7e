using System.Text.Json;
using System.Text.Json.Nodes;
using Muse.Decoding;
using Muse.Scenes;
using Muse.Training.Nn;
using static TorchSharp.torch;

namespace Muse.Training.Stages;

/// <summary>
/// <c>evaluate</c>: generates images for held-out captions with the trained models and scores them with Muse.Scenes'
/// SceneChecker. Decoding is the serving algorithm itself: Muse.Decoding's <see cref="ParallelDecoder"/> over a
/// <see cref="TorchTokenSampler"/> (classifier-free guidance and counter-RNG sampling as the transformer replica does),
/// with the pipeline's <see cref="DecodeOptions"/>.
/// Also scores VQGAN reconstructions of the held-out renders (the ceiling of the pipeline). Results are
/// merged into the stages' metrics.json (so exports carry them) and written to &lt;out&gt;/evaluation.json.
/// </summary>
internal sealed class Evaluation(TrainOptions options, SceneData data, TextWriter log, EvaluationDecoding decoding)
{
    public Dictionary<string, double> Run(int count)
    {
        using var noGrad = no_grad();
        var vqgan = StageIo.LoadVqgan(options.StageDir(VqganTrainer.StageName));
        var results = new Dictionary<string, double>();
        // --split train scores training captions instead: held-out far below training means the model did not generalise.
        var train = decoding.Split == EvaluationSplit.Train;
        var samples = Enumerable.Range(0, count).Select(i => train ? data.Train(i) : data.HeldOut(i)).ToArray();
        byte[] Image(int i, int size) => train ? data.TrainImage(i, size) : data.HeldOutImage(i, size);

        // The SR's grid decides the final size (16×16 tokens: 128 px, 32×32: 256 px).
        var srDir = options.StageDir(TransformerTrainer.SrStageName);
        var srConfig = Checkpoint.Exists(srDir) ? StageIo.ReadTransformerConfig(srDir) : null;
        var finalSize = (srConfig?.GridWidth ?? 16) * vqgan.Config.DownsampleFactor;

        // Ceiling: VQGAN reconstructions of the renders.
        foreach (var size in new[] { 64, 128, finalSize }.Distinct())
        {
            var images = ImageBatch.FromRgb([.. Enumerable.Range(0, count).Select(i => Image(i, size))], size);
            var reconstructions = vqgan.Decode(vqgan.Encode(images));
            results[$"reconstructionChecker{size}"] = Score($"reconstructed {size} px", reconstructions, size, samples);
            WritePpm(Path.Combine(options.Out, $"reconstructions-{size}.ppm"), cat([images[..Math.Min(6, count)], reconstructions[..Math.Min(6, count)]], 0), size);
        }

        var baseDir = options.StageDir(TransformerTrainer.BaseStageName);
        if (Checkpoint.Exists(baseDir))
        {
            var joint = StageIo.LoadTextBase(baseDir);
            var tokenizer = new CaptionTokenizer(joint.T5.Config.MaxLength);
            var (text, textMask) = Embed(joint.T5, tokenizer, samples.Select(s => s.Caption)); // [B, L, D], [B, L]
            var (empty, emptyMask) = Embed(joint.T5, tokenizer, Enumerable.Repeat("", count));
            // Image i gets seed S + i, as muse eval seeds its prompt i; both stages decode with the image's seed.
            var seeds = Enumerable.Range(0, count).Select(i => options.Seed + (ulong)i).ToArray();
            var low = Decode(joint.Base, DecodeStage.Base, decoding.Base, seeds, text, textMask, empty, emptyMask, null); // [B, 64]
            var lowImages = vqgan.Decode(low.reshape(count, 8, 8)); // [B, 3, 64, 64]
            results["generatedChecker64"] = Score("generated 64 px", lowImages, 64, samples);
            WritePpm(Path.Combine(options.Out, "samples-64.ppm"), lowImages[..Math.Min(8, count)], 64);

            if (srConfig is not null)
            {
                var sr = StageIo.LoadTransformer(srDir);
                var high = Decode(sr, DecodeStage.SuperResolution, decoding.SuperResolution, seeds, text, textMask, empty, emptyMask, low); // [B, N]
                var highImages = vqgan.Decode(high.reshape(count, srConfig.GridHeight, srConfig.GridWidth)); // [B, 3, final, final]
                results[$"generatedChecker{finalSize}"] = Score($"generated {finalSize} px", highImages, finalSize, samples);
                WritePpm(Path.Combine(options.Out, $"samples-{finalSize}.ppm"), highImages[..Math.Min(8, count)], finalSize);
            }
        }

        foreach (var (key, value) in results)
        {
            log.WriteLine($"{key}: {value:F3}");
        }

        Merge(options.StageDir(VqganTrainer.StageName), results, "reconstructionChecker");
        Merge(baseDir, results, "generatedChecker64");
        Merge(srDir, results, $"generatedChecker{finalSize}");
        File.WriteAllText(Path.Combine(options.Out, "evaluation.json"), JsonSerializer.Serialize(results, ConfigJson.Options));
        return results;
    }

    /// <summary>
    /// Decodes one stage of every image from all-mask tokens through <see cref="ParallelDecoder"/> (the serving loop)
    /// over <see cref="TorchTokenSampler"/>; image i with seed <paramref name="seeds"/>[i]. Images go in chunks, which
    /// cannot change a token (every random number is a function of the image's seed and coordinates).
    /// </summary>
    /// <returns>[B, N] int64 tokens.</returns>
    internal static Tensor Decode(
        MaskedTransformer model, DecodeStage stage, DecodeOptions options, ulong[] seeds,
        Tensor text, Tensor textMask, Tensor empty, Tensor emptyMask, Tensor? lowRes)
    {
        const int Chunk = 32;
        var config = model.Config;
        var tokens = new long[seeds.Length * config.GridHeight * config.GridWidth];   // [B, N]
        for (var start = 0; start < seeds.Length; start += Chunk)
        {
            var end = Math.Min(seeds.Length, start + Chunk);
            var states = Enumerable.Range(start, end - start)
                .Select(_ => TokenState.AllMasked(config.GridHeight, config.GridWidth, (int)model.MaskTokenId))
                .ToArray();
            using (var sampler = new TorchTokenSampler(model, stage, seeds[start..end], text[start..end], textMask[start..end], empty[start..end], emptyMask[start..end], lowRes?[start..end]))
            {
                // The sampler answers synchronously: the task is complete when DecodeAsync returns.
                ParallelDecoder.DecodeAsync(sampler, states, options, stage, seeds[start..end], 0, null, CancellationToken.None).GetAwaiter().GetResult();
            }

            for (var i = 0; i < states.Length; i++)
            {
                var offset = (start + i) * states[i].Length;
                for (var p = 0; p < states[i].Length; p++)
                {
                    tokens[offset + p] = states[i].Tokens[p];
                }
            }
        }

        return tensor(tokens, [seeds.Length, config.GridHeight * config.GridWidth]);
    }

    /// <summary>Text embeddings [B, L, Dt] and float mask [B, L] of <paramref name="texts"/>, as the text encoder service gives them.</summary>
    internal static (Tensor Embeddings, Tensor Mask) Embed(T5Encoder t5, CaptionTokenizer tokenizer, IEnumerable<string> texts)
    {
        var encoded = texts.Select(tokenizer.Encode).ToArray();
        var l = tokenizer.MaxLength;
        var ids = tensor(encoded.SelectMany(e => e.Ids).ToArray(), [encoded.Length, l]);
        var mask = tensor(encoded.SelectMany(e => e.Mask).ToArray(), [encoded.Length, l]);
        return (t5.Forward(ids, mask), mask.to_type(ScalarType.Float32));
    }

    // The share of images the scene checker passes whole; the log also gets the share with each attribute right
    // (objects pooled), which says what fails.
    private double Score(string what, Tensor images, int size, SceneSample[] samples)
    {
        var checks = Enumerable.Range(0, samples.Length).Select(i => SceneChecker.Check(ToRgb(images[i], size), size, samples[i].Description)).ToArray();
        var objects = checks.SelectMany(c => c.Objects).ToArray();
        double Share<T>(IEnumerable<T> items, Func<T, bool?> right)
        {
            var known = items.Select(right).Where(r => r is not null).ToArray();
            return known.Length == 0 ? double.NaN : known.Count(r => r == true) / (double)known.Length;
        }

        WriteFailures(what, checks, samples);
        log.WriteLine(
            $"{what}: all {Share(checks, c => c.AllCorrect):F3}, count {Share(checks, c => c.ObjectCount):F3}, background {Share(checks, c => c.Background):F3}, " +
            $"relation {Share(checks, c => c.Relation):F3}, colour {Share(objects, o => o.Colour):F3}, shape {Share(objects, o => o.Shape):F3}, " +
            $"position {Share(objects, o => o.Position):F3}, size {Share(objects, o => o.Size):F3}");
        return Share(checks, c => c.AllCorrect);
    }

    // One line per image the checker failed: its caption, what was wrong and what it found; says why a score is low.
    private void WriteFailures(string what, SceneCheckResult[] checks, SceneSample[] samples)
    {
        var path = Path.Combine(options.Out, $"failures-{what.Replace(' ', '-')}.txt");
        using var writer = new StreamWriter(path);
        for (var i = 0; i < checks.Length; i++)
        {
            var c = checks[i];
            if (c.AllCorrect)
            {
                continue;
            }

            var found = string.Join("; ", c.Analysis.Objects.Select(d => d.Summary()));
            writer.WriteLine($"{i}\t{samples[i].Caption}\t{string.Join(", ", c.Faults())}\t{found}");
        }
    }

    /// <summary>[3, S, S] in [-1, 1] → RGB bytes, row-major (clamped and rounded as the host does).</summary>
    private static byte[] ToRgb(Tensor image, int size)
    {
        var values = ((image.clamp(-1, 1) + 1) * 127.5).round().to_type(ScalarType.Byte).permute(1, 2, 0).contiguous().data<byte>().ToArray();
        return values.Length == size * size * 3 ? values : throw new InvalidOperationException("unexpected image size");
    }

    /// <summary>Images side by side as one binary PPM, for a quick look.</summary>
    private static void WritePpm(string path, Tensor images, int size)
    {
        var count = (int)images.shape[0];
        var rows = Enumerable.Range(0, count).Select(i => ToRgb(images[i], size)).ToArray();
        using var stream = File.Create(path);
        var header = System.Text.Encoding.ASCII.GetBytes($"P6\n{size * count} {size}\n255\n");
        stream.Write(header);
        for (var y = 0; y < size; y++)
        {
            foreach (var rgb in rows)
            {
                stream.Write(rgb, y * size * 3, size * 3);
            }
        }
    }

    private static void Merge(string stageDir, Dictionary<string, double> results, string prefix)
    {
        var path = Path.Combine(stageDir, "metrics.json");
        if (!File.Exists(path))
        {
            return;
        }

        var root = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        foreach (var (key, value) in results.Where(r => r.Key.StartsWith(prefix, StringComparison.Ordinal)))
        {
            root[key] = value;
        }

        File.WriteAllText(path, root.ToJsonString(ConfigJson.Options));
    }
}
