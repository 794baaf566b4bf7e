using System.Text.Json;
using System.Text.Json.Nodes;
using Muse.Scenes;
using Muse.Training.Nn;
using static TorchSharp.torch;

namespace Muse.Training.Stages;

/// <summary>
/// <c>evaluate</c>: generates images for held-out captions with the trained models (MaskGIT parallel decoding
/// with classifier-free guidance, as the orchestrator does) and scores them with Muse.Scenes' SceneChecker.
/// Also scores VQGAN reconstructions of the held-out renders (the ceiling of the pipeline). Results are
/// merged into the stages' metrics.json (so exports carry them) and written to &lt;out&gt;/evaluation.json.
/// </summary>
internal sealed class Evaluation(TrainOptions options, SceneData data, TextWriter log, EvaluationDecoding decoding)
{
    public Dictionary<string, double> Run(int count)
    {
        using var noGrad = no_grad();
        manual_seed((long)options.Seed);
        var vqgan = StageIo.LoadVqgan(options.StageDir(VqganTrainer.StageName));
        var results = new Dictionary<string, double>();
        // --split train scores training captions instead: held-out far below training means the model did not generalise.
        var train = decoding.Split == "train";
        var samples = Enumerable.Range(0, count).Select(i => train ? data.Train(i) : data.HeldOut(i)).ToArray();
        byte[] Image(int i, int size) => train ? data.TrainImage(i, size) : data.HeldOutImage(i, size);

        // Ceiling: VQGAN reconstructions of the renders.
        foreach (var size in new[] { 64, 128 })
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
            var low = Decode(joint.Base, text, textMask, empty, emptyMask, null, decoding.BaseSteps, decoding.SamplingTemperature); // [B, 64]
            var lowImages = vqgan.Decode(low.reshape(count, 8, 8)); // [B, 3, 64, 64]
            results["generatedChecker64"] = Score("generated 64 px", lowImages, 64, samples);
            WritePpm(Path.Combine(options.Out, "samples-64.ppm"), lowImages[..Math.Min(8, count)], 64);

            var srDir = options.StageDir(TransformerTrainer.SrStageName);
            if (Checkpoint.Exists(srDir))
            {
                var sr = StageIo.LoadTransformer(srDir);
                var high = Decode(sr, text, textMask, empty, emptyMask, low, decoding.SrSteps, decoding.SrSamplingTemperature); // [B, 256]
                var highImages = vqgan.Decode(high.reshape(count, 16, 16)); // [B, 3, 128, 128]
                results["generatedChecker128"] = Score("generated 128 px", highImages, 128, samples);
                WritePpm(Path.Combine(options.Out, "samples-128.ppm"), highImages[..Math.Min(8, count)], 128);
            }
        }

        foreach (var (key, value) in results)
        {
            log.WriteLine($"{key}: {value:F3}");
        }

        Merge(options.StageDir(VqganTrainer.StageName), results, "reconstructionChecker");
        Merge(baseDir, results, "generatedChecker64");
        Merge(options.StageDir(TransformerTrainer.SrStageName), results, "generatedChecker128");
        File.WriteAllText(Path.Combine(options.Out, "evaluation.json"), JsonSerializer.Serialize(results, ConfigJson.Options));
        return results;
    }

    /// <summary>MaskGIT decoding from all-mask tokens with guidance; returns tokens [B, N].</summary>
    private Tensor Decode(MaskedTransformer model, Tensor text, Tensor textMask, Tensor empty, Tensor emptyMask, Tensor? lowRes, int steps, double temperature)
    {
        var b = text.shape[0];
        var n = model.Config.GridHeight * model.Config.GridWidth;
        var tokens = full(b, n, model.MaskTokenId, ScalarType.Int64); // [B, N]
        for (var t = 0; t < steps; t++)
        {
            using var scope = NewDisposeScope();
            var conditional = model.Forward(tokens, text, textMask, lowRes); // [B, N, K]
            var unconditional = model.Forward(tokens, empty, emptyMask, lowRes);
            // As the serving GuidanceSchedule: LINEAR rises from 1 at the first step to s at the last.
            var scale = decoding.GuidanceSchedule == "linear" && steps > 1
                ? 1 + ((decoding.GuidanceScale - 1) * t / (steps - 1.0))
                : decoding.GuidanceScale;
            var logits = unconditional + (scale * (conditional - unconditional));
            var probabilities = (logits / Math.Max(temperature, 1e-6)).softmax(-1);
            var sampled = multinomial(probabilities.reshape(b * n, -1), 1).reshape(b, n); // [B, N]
            var unknown = tokens.eq(model.MaskTokenId);
            sampled = where(unknown, sampled, tokens);
            var ratio = (t + 1.0) / steps;
            var maskCount = (long)Math.Floor(n * Masking.MaskSchedule(ratio));
            var confidence = probabilities.log().gather(-1, sampled.unsqueeze(-1)).squeeze(-1); // [B, N]
            var gumbel = -(-rand(b, n).clamp(1e-9, 1).log()).log();
            confidence = confidence + (decoding.ChoiceTemperature * (1 - ratio) * gumbel);
            if (decoding.Remask)
            {
                // Committed tokens compete again: their confidence is their probability under the current prediction.
                var kept = probabilities.log().gather(-1, where(unknown, zeros_like(tokens), tokens).unsqueeze(-1)).squeeze(-1);
                confidence = where(unknown, confidence, kept + (decoding.ChoiceTemperature * (1 - ratio) * gumbel));
            }
            else
            {
                confidence = where(unknown, confidence, full_like(confidence, double.PositiveInfinity));
            }
            if (maskCount > 0)
            {
                var lowest = confidence.argsort(-1).narrow(1, 0, maskCount); // [B, maskCount]
                sampled = sampled.scatter(1, lowest, full_like(lowest, model.MaskTokenId));
            }

            tokens = sampled.MoveToOuterDisposeScope();
        }

        return tokens;
    }

    private static (Tensor Embeddings, Tensor Mask) Embed(T5Encoder t5, CaptionTokenizer tokenizer, IEnumerable<string> texts)
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

            var wrong = new List<string>();
            if (!c.ObjectCount)
            {
                wrong.Add("count");
            }

            if (c.Relation == false)
            {
                wrong.Add("relation");
            }

            if (c.Background == false)
            {
                wrong.Add("background");
            }

            foreach (var o in c.Objects.Where(o => !o.AllCorrect))
            {
                string?[] attributes = [o.Colour ? null : "colour", o.Shape ? null : "shape", o.Position == false ? "position" : null, o.Size == false ? "size" : null];
                wrong.Add($"object({string.Join(' ', attributes.OfType<string>())})");
            }

            var found = string.Join("; ", c.Analysis.Objects.Select(d =>
                $"{d.Colour} {d.Shape} {d.Size} {d.Position} (skew {d.Skewness:F2}, square {d.Squareness:F2}, extent {d.Extent:F2}, area {d.Area})"));
            writer.WriteLine($"{i}\t{samples[i].Caption}\t{string.Join(", ", wrong)}\t{found}");
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

/// <summary>Decoding settings of <c>evaluate</c>; the defaults are those of pipeline muse-tiny in pipelines.json.</summary>
internal sealed record EvaluationDecoding(int BaseSteps = 16, int SrSteps = 8, double GuidanceScale = 1.5, double ChoiceTemperature = 1.0, double SamplingTemperature = 1.0, double SrSamplingTemperature = 0.2, string GuidanceSchedule = "constant", bool Remask = false, string Split = "held-out");
