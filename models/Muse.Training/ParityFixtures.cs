using Muse.ModelBuilder.Weights;
using Muse.Training.Stages;
using static TorchSharp.torch;

namespace Muse.Training;

/// <summary>
/// <c>parity-fixtures</c>: runs each trained model on fixed inputs (held-out scenes and captions) and writes
/// <c>&lt;fixtures&gt;/muse-tiny-&lt;model&gt;/&lt;graph&gt;.safetensors</c> holding the ONNX inputs and the
/// trainer's outputs under the ONNX names of models/README.md. Each file stays under 200 KB, so the SR
/// logits are kept for <c>logits_positions</c> only.
/// </summary>
internal static class ParityFixtures
{
    // Model version the fixtures belong to (tests/fixtures/<model>/<version>/).
    private static string Version { get; set; } = "1";

    /// <summary>Writes the fixtures of <paramref name="stage"/> (vqgan, text+base, sr or all) whose checkpoints exist.</summary>
    public static IReadOnlyList<string> Run(TrainOptions options, SceneData data, string fixturesDir, string stage = "all")
    {
        Version = options.Version;
        var written = new List<string>();
        using var noGrad = no_grad();
        var vqganDir = options.StageDir(VqganTrainer.StageName);
        if (!Checkpoint.Exists(vqganDir))
        {
            return written;
        }

        var vqgan = StageIo.LoadVqgan(vqganDir);
        var image = ImageBatch.FromRgb([data.HeldOutImage(0, 64), data.HeldOutImage(1, 64)], 64); // [2, 3, 64, 64]
        var tokens = vqgan.Encode(image); // [2, 8, 8]
        if (stage is "all" or VqganTrainer.StageName)
        {
            written.Add(Write(fixturesDir, "muse-tiny-vqgan", "encoder", ("image", image), ("tokens", tokens)));
            written.Add(Write(fixturesDir, "muse-tiny-vqgan", "decoder", ("tokens", tokens), ("image", vqgan.Decode(tokens))));
        }

        var baseDir = options.StageDir(TransformerTrainer.BaseStageName);
        if (!Checkpoint.Exists(baseDir) || stage == VqganTrainer.StageName)
        {
            return written;
        }

        var joint = StageIo.LoadTextBase(baseDir);
        var tokenizer = new CaptionTokenizer(joint.T5.Config.MaxLength);
        string[] texts = [data.HeldOut(0).Caption, data.HeldOut(1).Caption, "A large RED circle on the left", ""];
        var encoded = texts.Select(tokenizer.Encode).ToArray();
        var l = joint.T5.Config.MaxLength;
        var ids = tensor(encoded.SelectMany(e => e.Ids).ToArray(), [texts.Length, l]); // [4, L]
        var mask = tensor(encoded.SelectMany(e => e.Mask).ToArray(), [texts.Length, l]); // [4, L]
        var hidden = joint.T5.Forward(ids, mask); // [4, L, D]
        var withBase = stage is "all" or TransformerTrainer.BaseStageName;
        if (withBase)
        {
            written.Add(Write(fixturesDir, "muse-tiny-t5", "model", ("input_ids", ids), ("attention_mask", mask), ("last_hidden_state", hidden)));
        }

        // Base: held-out scene 0, every other token masked, its caption's embeddings.
        var baseTokens = MaskEvery(tokens[0].reshape(1, 64), 2, joint.Base.MaskTokenId); // [1, 64]
        var textEmbeddings = hidden[0..1]; // [1, L, D]
        var textMask = mask[0..1].to_type(ScalarType.Float32); // [1, L]
        var baseLogits = joint.Base.Forward(baseTokens, textEmbeddings, textMask, null); // [1, 64, K]
        if (withBase)
        {
            written.Add(Write(fixturesDir, "muse-tiny-base", "model",
                ("tokens", baseTokens), ("text_embeddings", textEmbeddings), ("text_mask", textMask), ("logits", baseLogits)));
        }

        var srDir = options.StageDir(TransformerTrainer.SrStageName);
        if (!Checkpoint.Exists(srDir) || stage is not ("all" or TransformerTrainer.SrStageName))
        {
            return written;
        }

        var sr = StageIo.LoadTransformer(srDir);
        // The SR's own grid: 16×16 tokens of the 128 px scene, or 32×32 of the 256 px one.
        var (size, n) = (sr.Config.GridWidth * vqgan.Config.DownsampleFactor, sr.Config.GridHeight * sr.Config.GridWidth);
        var high = vqgan.Encode(ImageBatch.FromRgb([data.HeldOutImage(0, size)], size)).reshape(1, n); // [1, N]
        var srTokens = MaskEvery(high, 3, sr.MaskTokenId); // [1, N]
        var srLogits = sr.Forward(srTokens, textEmbeddings, textMask, tokens[0].reshape(1, 64)); // [1, N, K]
        var positions = tensor(Enumerable.Range(0, 64).Select(i => (long)(n / 64 * i)).ToArray()); // [64], spread over the grid
        written.Add(Write(fixturesDir, "muse-tiny-sr", "model",
            ("tokens", srTokens), ("text_embeddings", textEmbeddings), ("text_mask", textMask), ("low_res_tokens", tokens[0].reshape(1, 64)),
            ("logits_positions", positions), ("logits", srLogits.index_select(1, positions))));
        return written;
    }

    /// <summary>A copy of <paramref name="tokens"/> [1, N] with every <paramref name="every"/>-th position set to the mask id.</summary>
    private static Tensor MaskEvery(Tensor tokens, int every, long maskTokenId)
    {
        var values = tokens.data<long>().ToArray();
        for (var i = 0; i < values.Length; i += every)
        {
            values[i] = maskTokenId;
        }

        return tensor(values, tokens.shape);
    }

    private static string Write(string fixturesDir, string model, string graph, params (string Name, Tensor Value)[] tensors)
    {
        var dir = Path.Combine(fixturesDir, model, Version);
        Directory.CreateDirectory(dir);
        var weights = new SortedDictionary<string, WeightTensor>(StringComparer.Ordinal);
        foreach (var (name, value) in tensors)
        {
            using var cpu = value.detach().cpu().contiguous();
            weights[name] = cpu.dtype == ScalarType.Int64
                ? WeightTensor.Int64(cpu.data<long>().ToArray(), cpu.shape)
                : WeightTensor.Float(cpu.to_type(ScalarType.Float32).data<float>().ToArray(), cpu.shape);
        }

        var path = Path.Combine(dir, graph + ".safetensors");
        Safetensors.Write(path, weights);
        return path;
    }
}
