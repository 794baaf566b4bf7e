using Muse.Decoding;
using Muse.Hosting;
using Muse.Inference;
using Muse.Protos.V1;
using Muse.Repository;

namespace Muse.Transformer;

/// <summary>
/// A loaded base or SR transformer with what decoding needs resolved once at start-up: the ONNX input and output
/// names (from the manifest's roles), the grid sizes and the decoding stage that is part of the noise identity.
/// </summary>
/// <remarks>Does not own <see cref="Loaded"/>; the host's model registry disposes it.</remarks>
public sealed class TransformerModel
{
    /// <summary>Manifest roles of the transformer graph's inputs and output (models/README.md).</summary>
    public static class Roles
    {
        /// <summary>int64 [B, N] current tokens, masked = mask token id.</summary>
        public const string Tokens = "tokens";

        /// <summary>float [B, L, Dt] text embeddings.</summary>
        public const string TextEmbeddings = "text_embeddings";

        /// <summary>float [B, L] 1 = token, 0 = padding (optional: aMUSEd attends to every position).</summary>
        public const string TextMask = "text_mask";

        /// <summary>float [B, Dp] pooled text embedding (optional: aMUSEd).</summary>
        public const string PooledTextEmbeddings = "pooled_text_embeddings";

        /// <summary>float [B, 5] micro-conditions (optional: aMUSEd).</summary>
        public const string MicroConditions = "micro_conditions";

        /// <summary>int64 [B, M] the base model's tokens (sr only).</summary>
        public const string LowResTokens = "low_res_tokens";

        /// <summary>float [B, N, K] logits over the codebook.</summary>
        public const string Logits = "logits";
    }

    /// <summary>Micro-conditions per image: original width, original height, crop top, crop left, aesthetic score.</summary>
    public const int MicroConditionCount = 5;

    private TransformerModel(LoadedModel loaded, OnnxModel graph)
    {
        var manifest = loaded.Manifest;
        Loaded = loaded;
        Graph = graph;
        IsSuperResolution = manifest.Stage == Stages.SuperResolution;
        Stage = IsSuperResolution ? DecodeStage.SuperResolution : DecodeStage.Base;
        TokensInput = loaded.InputName("model", Roles.Tokens);
        TextEmbeddingsInput = loaded.InputName("model", Roles.TextEmbeddings);
        TextMaskInput = OptionalInput(loaded, Roles.TextMask);
        PooledTextEmbeddingsInput = OptionalInput(loaded, Roles.PooledTextEmbeddings);
        MicroConditionsInput = OptionalInput(loaded, Roles.MicroConditions);
        LowResTokensInput = IsSuperResolution ? loaded.InputName("model", Roles.LowResTokens) : null;
        LogitsOutput = loaded.OutputName("model", Roles.Logits);
        LogitsIndex = graph.OutputNames.ToList().IndexOf(LogitsOutput);
        Ref = StageInfoService.MapRef(manifest);
    }

    /// <summary>The loaded model version (manifest and sessions).</summary>
    public LoadedModel Loaded { get; }

    /// <summary>The validated manifest.</summary>
    public ModelManifest Manifest => Loaded.Manifest;

    /// <summary><c>name/version</c>.</summary>
    public string Id => Loaded.Manifest.Id;

    /// <summary>The reference echoed in every reply.</summary>
    public ModelRef Ref { get; }

    /// <summary>The ONNX graph of the <c>model</c> role.</summary>
    public OnnxModel Graph { get; }

    /// <summary>True for a super-resolution model (conditioned on low-res tokens).</summary>
    public bool IsSuperResolution { get; }

    /// <summary>The decoding stage: part of the identity of every sampling draw.</summary>
    public DecodeStage Stage { get; }

    /// <summary>Codebook entries K; valid token ids are [0, K), and K itself is the mask token.</summary>
    public int CodebookSize => Manifest.CodebookSize;

    /// <summary>The mask token id (= K).</summary>
    public int MaskTokenId => Manifest.MaskTokenId;

    /// <summary>Tokens per image N = gridHeight · gridWidth.</summary>
    public int Length => Manifest.GridHeight * Manifest.GridWidth;

    /// <summary>Low-resolution tokens per image M (sr); 0 for base.</summary>
    public int LowResLength => Manifest.LowResGridHeight * Manifest.LowResGridWidth;

    /// <summary>ONNX name of the tokens input.</summary>
    public string TokensInput { get; }

    /// <summary>ONNX name of the text embeddings input.</summary>
    public string TextEmbeddingsInput { get; }

    /// <summary>ONNX name of the text mask input; null when the graph attends to every text position.</summary>
    public string? TextMaskInput { get; }

    /// <summary>ONNX name of the pooled text embeddings input (width <see cref="ModelManifest.PooledEmbeddingDim"/>); null when the model has none.</summary>
    public string? PooledTextEmbeddingsInput { get; }

    /// <summary>ONNX name of the micro-conditions input ([B, <see cref="MicroConditionCount"/>]); null when the model has none.</summary>
    public string? MicroConditionsInput { get; }

    /// <summary>ONNX name of the low-res tokens input; null for base models.</summary>
    public string? LowResTokensInput { get; }

    /// <summary>ONNX name of the logits output.</summary>
    public string LogitsOutput { get; }

    /// <summary>Position of the logits among the graph's outputs (the order <see cref="OnnxModel.Run"/> returns).</summary>
    public int LogitsIndex { get; }

    /// <summary>Wraps a base or SR model, checking that its manifest maps every role to a tensor the graph has.</summary>
    /// <exception cref="InvalidOperationException">The model is not a transformer, or a role is missing or unknown to the graph.</exception>
    public static TransformerModel From(LoadedModel loaded)
    {
        var stage = loaded.Manifest.Stage;
        if (stage is not (Stages.Base or Stages.SuperResolution))
        {
            throw new InvalidOperationException($"Model {loaded.Manifest.Id} is a '{stage}' model, not a transformer.");
        }

        return new TransformerModel(loaded, loaded.Graph("model"));
    }

    // A role the manifest may leave out; one it names must exist in the graph.
    private static string? OptionalInput(LoadedModel loaded, string role) =>
        loaded.Manifest.Inputs.ContainsKey(role) ? loaded.InputName("model", role) : null;
}
