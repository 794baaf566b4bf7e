using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.ML.OnnxRuntime;
using Muse.Decoding;
using Muse.Inference;
using Muse.Repository;
using Muse.Training.Nn;
using static TorchSharp.torch;

namespace Muse.Training.Stages;

/// <summary>
/// <c>decode-parity</c>: shows that <c>evaluate</c> decodes as serving does. For held-out captions it runs
/// <see cref="ParallelDecoder"/> twice per stage with the same conditioning, seeds and options: once over
/// <see cref="TorchTokenSampler"/> (the trained modules, as <c>evaluate</c>) and once over the stage's exported ONNX
/// graph through ONNX Runtime with the replica's guidance and sampling (<see cref="GuidedSampling"/>, as
/// services/Muse.Transformer's StepRunner). Reports the largest logit difference of the first step and how many
/// images came out token for token the same. The SR stage of both runs is conditioned on the trainer's base tokens,
/// so each stage is compared on equal inputs.
/// </summary>
internal sealed class DecodeParity(TrainOptions options, SceneData data, TextWriter log, EvaluationDecoding decoding)
{
    /// <summary>The parity tolerance of floats between the trainer and ONNX Runtime (tests/Muse.Parity.Tests).</summary>
    public const double LogitTolerance = 1e-4;

    /// <summary>Result of one stage.</summary>
    public sealed record StageParity(string Stage, int Images, int IdenticalImages, int DifferingTokens, double MaxLogitDifference);

    /// <param name="repository">Model repository holding the stage folders' export (muse-tiny-*/<c>version</c>).</param>
    /// <param name="count">Captions compared.</param>
    public IReadOnlyList<StageParity> Run(string repository, int count)
    {
        using var noGrad = no_grad();
        var joint = StageIo.LoadTextBase(options.StageDir(TransformerTrainer.BaseStageName));
        var tokenizer = new CaptionTokenizer(joint.T5.Config.MaxLength);
        var captions = Enumerable.Range(0, count).Select(i => data.HeldOut(i).Caption).ToArray();
        var (text, textMask) = Evaluation.Embed(joint.T5, tokenizer, captions);              // [B, L, Dt], [B, L]
        var (empty, emptyMask) = Evaluation.Embed(joint.T5, tokenizer, Enumerable.Repeat("", count));
        var seeds = Enumerable.Range(0, count).Select(i => options.Seed + (ulong)i).ToArray();
        var conditioning = new Conditioning(text, textMask, empty, emptyMask);

        var results = new List<StageParity>();
        var (baseResult, low) = Compare("base", joint.Base, Path.Combine(repository, "muse-tiny-base", options.Version), DecodeStage.Base, decoding.Base, seeds, conditioning, null);
        results.Add(baseResult);
        var srDir = options.StageDir(TransformerTrainer.SrStageName);
        if (Checkpoint.Exists(srDir))
        {
            var sr = StageIo.LoadTransformer(srDir);
            var (srResult, _) = Compare("sr", sr, Path.Combine(repository, "muse-tiny-sr", options.Version), DecodeStage.SuperResolution, decoding.SuperResolution, seeds, conditioning, low);
            results.Add(srResult);
        }

        foreach (var r in results)
        {
            log.WriteLine(
                $"decode parity {r.Stage}: {r.IdenticalImages}/{r.Images} images token-identical (TorchSharp vs ONNX Runtime), " +
                $"{r.DifferingTokens} tokens differ; first-step logits max |Δ| {r.MaxLogitDifference:E2}");
        }

        return results;
    }

    private (StageParity Result, Tensor TorchTokens) Compare(
        string name, MaskedTransformer model, string onnxDir, DecodeStage stage, DecodeOptions decodeOptions, ulong[] seeds, Conditioning c, Tensor? lowRes)
    {
        var manifest = ModelManifest.Load(Path.Combine(onnxDir, "manifest.json"));
        using var graph = OnnxModel.Load(
            Path.Combine(onnxDir, manifest.Files["model"]),
            new InferenceOptions { Providers = [ExecutionProvider.Cpu], IntraOpThreads = options.Threads },
            NullLogger.Instance);
        using var torchSampler = new TorchTokenSampler(model, stage, seeds, c.Text, c.TextMask, c.Empty, c.EmptyMask, lowRes);
        var onnxSampler = new OnnxTokenSampler(graph, manifest, stage, seeds, c, lowRes);

        // The first step's logits on an all-masked grid, guided rows included: what the two forward passes disagree by.
        var config = model.Config;
        var masked = new long[seeds.Length * config.GridHeight * config.GridWidth];
        Array.Fill(masked, model.MaskTokenId);
        var torchLogits = torchSampler.Logits(masked, seeds.Length, guided: true);
        var onnxLogits = onnxSampler.Logits(masked, guided: true);
        var maxDifference = torchLogits.Zip(onnxLogits, (a, b) => Math.Abs((double)a - b)).Max();

        var torchStates = Decode(torchSampler, config, (int)model.MaskTokenId, decodeOptions, stage, seeds);
        var onnxStates = Decode(onnxSampler, config, (int)model.MaskTokenId, decodeOptions, stage, seeds);
        var identical = 0;
        var differing = 0;
        for (var i = 0; i < seeds.Length; i++)
        {
            var different = torchStates[i].Tokens.Zip(onnxStates[i].Tokens).Count(p => p.First != p.Second);
            differing += different;
            identical += different == 0 ? 1 : 0;
        }

        var tokens = tensor(GuidedSampling.Tokens(torchStates), [seeds.Length, config.GridHeight * config.GridWidth]);
        return (new StageParity(name, seeds.Length, identical, differing, maxDifference), tokens);
    }

    private static TokenState[] Decode(ITokenSampler sampler, TransformerConfig config, int maskTokenId, DecodeOptions decodeOptions, DecodeStage stage, ulong[] seeds)
    {
        var states = seeds.Select(_ => TokenState.AllMasked(config.GridHeight, config.GridWidth, maskTokenId)).ToArray();
        // Both samplers answer synchronously: the task is complete when DecodeAsync returns.
        ParallelDecoder.DecodeAsync(sampler, states, decodeOptions, stage, seeds, 0, null, CancellationToken.None).GetAwaiter().GetResult();
        return states;
    }

    // The text rows of every image: prompt [B, L, Dt] and mask [B, L], and the empty prompt's (unconditional).
    private sealed record Conditioning(Tensor Text, Tensor TextMask, Tensor Empty, Tensor EmptyMask);

    /// <summary>
    /// The serving replica's step over the exported graph (services/Muse.Transformer/StepRunner.cs): the rows laid out
    /// as DecodeSession does, one ONNX Runtime run, then <see cref="GuidedSampling"/>.
    /// </summary>
    private sealed class OnnxTokenSampler : ITokenSampler
    {
        private readonly OnnxModel _graph;
        private readonly ModelManifest _manifest;
        private readonly DecodeStage _stage;
        private readonly ulong[] _seeds;
        private readonly float[] _guidedText;      // [2B, L, Dt]
        private readonly float[] _guidedMask;      // [2B, L]
        private readonly long[]? _guidedLowRes;    // [2B, M]

        public OnnxTokenSampler(OnnxModel graph, ModelManifest manifest, DecodeStage stage, ulong[] seeds, Conditioning c, Tensor? lowRes)
        {
            _graph = graph;
            _manifest = manifest;
            _stage = stage;
            _seeds = seeds;
            _guidedText = cat([c.Text, c.Empty], 0).to_type(ScalarType.Float32).contiguous().data<float>().ToArray();
            _guidedMask = cat([c.TextMask, c.EmptyMask], 0).to_type(ScalarType.Float32).contiguous().data<float>().ToArray();
            _guidedLowRes = lowRes is null ? null : cat([lowRes, lowRes], 0).to_type(ScalarType.Int64).contiguous().data<long>().ToArray();
        }

        public ValueTask<SampledTokens> SampleAsync(
            IReadOnlyList<TokenState> states, int step, int steps, float guidanceScale, float samplingTemperature, bool committedConfidence, CancellationToken ct)
        {
            var guided = Guidance.NeedsUnconditional(guidanceScale);
            var logits = Logits(GuidedSampling.Tokens(states), guided);
            return ValueTask.FromResult(GuidedSampling.Sample(logits, states, guided, guidanceScale, samplingTemperature, _seeds, _stage, step, _manifest.MaskTokenId, committedConfidence));
        }

        public float[] Logits(long[] tokens, bool guided)
        {
            var images = _seeds.Length;
            var rows = guided ? 2 * images : images;
            var length = tokens.Length / images;
            var textLength = _manifest.TextMaxLength;
            var textDim = _manifest.TextEmbeddingDim;
            var lowResLength = _manifest.LowResGridHeight * _manifest.LowResGridWidth;
            long[] rowTokens = guided ? [.. tokens, .. tokens] : tokens;        // [rows, N]
            var inputs = new Dictionary<string, OrtValue>();
            try
            {
                // Without guidance the conditional rows are the first B of the guided layout.
                inputs[_manifest.Inputs["tokens"]] = OrtValue.CreateTensorValueFromMemory(rowTokens, [rows, length]);
                inputs[_manifest.Inputs["text_embeddings"]] = OrtValue.CreateTensorValueFromMemory(
                    OrtMemoryInfo.DefaultInstance, _guidedText.AsMemory(0, rows * textLength * textDim), [rows, textLength, textDim]);
                inputs[_manifest.Inputs["text_mask"]] = OrtValue.CreateTensorValueFromMemory(
                    OrtMemoryInfo.DefaultInstance, _guidedMask.AsMemory(0, rows * textLength), [rows, textLength]);
                if (_guidedLowRes is not null)
                {
                    inputs[_manifest.Inputs["low_res_tokens"]] = OrtValue.CreateTensorValueFromMemory(
                        OrtMemoryInfo.DefaultInstance, _guidedLowRes.AsMemory(0, rows * lowResLength), [rows, lowResLength]);
                }

                using var outputs = _graph.Run(inputs, CancellationToken.None);
                var index = _graph.OutputNames.ToList().IndexOf(_manifest.Outputs["logits"]);
                return outputs[index].GetTensorDataAsSpan<float>().ToArray();   // [rows, N, K]
            }
            finally
            {
                foreach (var value in inputs.Values)
                {
                    value.Dispose();
                }
            }
        }
    }
}
