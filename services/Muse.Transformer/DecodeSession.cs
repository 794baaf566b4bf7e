using Muse.Decoding;
using Muse.Hosting;
using Muse.Protos.V1;

namespace Muse.Transformer;

/// <summary>
/// The validated conditioning of one Decode stream, kept for the stream's life: the model, the text rows (prompt and
/// negative prompt), the low-res tokens (sr) and one seed per image. Steps are validated against it.
/// </summary>
/// <remarks>Not thread-safe: a stream runs one step at a time.</remarks>
public sealed class DecodeSession
{
    /// <summary>Most images one stream may decode together.</summary>
    public const int MaxBatch = 16;

    private ConditioningRows? _conditional;
    private ConditioningRows? _guided;

    private DecodeSession(
        TransformerModel model, ulong[] seeds, float[] textEmbeddings, float[] textMask, long[]? lowResTokens,
        float[]? pooledTextEmbeddings, float[]? microConditions)
    {
        Model = model;
        Seeds = seeds;
        TextEmbeddings = textEmbeddings;
        TextMask = textMask;
        LowResTokens = lowResTokens;
        PooledTextEmbeddings = pooledTextEmbeddings;
        MicroConditions = microConditions;
    }

    /// <summary>The transformer this stream decodes with.</summary>
    public TransformerModel Model { get; }

    /// <summary>Images decoded together, B = number of seeds.</summary>
    public int BatchSize => Seeds.Length;

    /// <summary>[B] one seed per image.</summary>
    public ulong[] Seeds { get; }

    /// <summary>[2, L, Dt] row 0 = prompt (conditional), row 1 = negative or empty prompt (unconditional).</summary>
    public float[] TextEmbeddings { get; }

    /// <summary>[2, L] 1 = token, 0 = padding, as float for the graph.</summary>
    public float[] TextMask { get; }

    /// <summary>[B, M] the base model's tokens (sr); null for base.</summary>
    public long[]? LowResTokens { get; }

    /// <summary>[2, Dp] pooled text rows, like <see cref="TextEmbeddings"/>; null when the model has no such input.</summary>
    public float[]? PooledTextEmbeddings { get; }

    /// <summary>[B, 5] micro-conditions per image; null when the model has no such input.</summary>
    public float[]? MicroConditions { get; }

    /// <summary>Validates the first message of a stream against <paramref name="model"/>.</summary>
    /// <exception cref="Grpc.Core.RpcException">InvalidArgument, naming the offending field.</exception>
    public static DecodeSession Open(Conditioning conditioning, TransformerModel model)
    {
        var manifest = model.Manifest;
        var textLength = manifest.TextMaxLength;
        var textDim = manifest.TextEmbeddingDim;

        var batch = MuseValidation.CountInRange(conditioning.Seeds, 1, MaxBatch).Count;    // one seed per image

        var textEmbeddings = DecodeValidation.Float32(conditioning.TextEmbeddings, [2, textLength, textDim]);    // [2, L, Dt]
        DecodeValidation.Require(Array.TrueForAll(textEmbeddings, float.IsFinite), conditioning.TextEmbeddings, "must be finite.");

        var textMask = DecodeValidation.Int32(conditioning.TextMask, [2, textLength]);                        // [2, L]
        DecodeValidation.Require(Array.TrueForAll(textMask, m => m is 0 or 1), conditioning.TextMask, "must hold only 0 and 1.");

        long[]? lowResTokens = null;                                                                          // [B, M]
        if (model.IsSuperResolution)
        {
            DecodeValidation.Require(conditioning.LowResTokens is not null, conditioning.LowResTokens, $"is required by the super-resolution model {model.Id}.");
            var lowRes = DecodeValidation.Int32(conditioning.LowResTokens, [batch, manifest.LowResGridHeight, manifest.LowResGridWidth]);
            DecodeValidation.Require(
                Array.TrueForAll(lowRes, t => t >= 0 && t < model.CodebookSize),
                conditioning.LowResTokens,
                $"must hold codebook ids in [0, {model.CodebookSize}).");
            lowResTokens = Array.ConvertAll(lowRes, t => (long)t);
        }
        else
        {
            DecodeValidation.Require(conditioning.LowResTokens is null, conditioning.LowResTokens, $"must be absent for the base model {model.Id}.");
        }

        // Inputs of some models only (aMUSEd); other models ignore them, so older clients and T5 models are unaffected.
        float[]? pooled = null;                                                                              // [2, Dp]
        if (model.PooledTextEmbeddingsInput is not null)
        {
            pooled = DecodeValidation.Float32(conditioning.PooledTextEmbeddings, [2, manifest.PooledEmbeddingDim]);
            DecodeValidation.Require(Array.TrueForAll(pooled, float.IsFinite), conditioning.PooledTextEmbeddings, "must be finite.");
        }

        float[]? micro = null;                                                                               // [B, 5]
        if (model.MicroConditionsInput is not null)
        {
            micro = DecodeValidation.Float32(conditioning.MicroConditions, [batch, TransformerModel.MicroConditionCount]);
            DecodeValidation.Require(Array.TrueForAll(micro, float.IsFinite), conditioning.MicroConditions, "must be finite.");
        }

        return new DecodeSession(
            model, [.. conditioning.Seeds], textEmbeddings, Array.ConvertAll(textMask, m => (float)m), lowResTokens, pooled, micro);
    }

    /// <summary>Validates one step message against this stream's model and batch.</summary>
    /// <exception cref="Grpc.Core.RpcException">InvalidArgument, naming the offending field.</exception>
    public DecodeStepInput ReadStep(DecodeStep step)
    {
        var manifest = Model.Manifest;
        MuseValidation.InRange(step.Steps, 1, MaskSchedule.MaxSteps);
        MuseValidation.InRange(step.Step, 0, step.Steps - 1);
        MuseValidation.Finite(step.GuidanceScale);
        MuseValidation.InRange(step.GuidanceScale, 0f, DecodeOptions.MaxGuidanceScale);
        MuseValidation.Finite(step.SamplingTemperature);
        MuseValidation.InRange(step.SamplingTemperature, 0f, DecodeOptions.MaxSamplingTemperature);

        var tokens = DecodeValidation.Int32(step.Tokens, [BatchSize, manifest.GridHeight, manifest.GridWidth]);   // [B, h, w]
        DecodeValidation.Require(
            // Exactly the message's set: a committed token is scored against the K logits of its position (re-competition).
            Array.TrueForAll(tokens, t => (t >= 0 && t < Model.CodebookSize) || t == Model.MaskTokenId),
            step.Tokens,
            $"must hold codebook ids in [0, {Model.CodebookSize}) or the mask token {Model.MaskTokenId}.");

        return new DecodeStepInput(tokens, step.Step, step.Steps, step.GuidanceScale, step.SamplingTemperature, step.CommittedConfidence);
    }

    /// <summary>
    /// The conditioning inputs of one run, one row per graph row: images 0..B−1 with the prompt, then, when
    /// <paramref name="guided"/>, images 0..B−1 again with the negative prompt. Built once per stream and layout.
    /// </summary>
    public ConditioningRows Rows(bool guided) => guided
        ? _guided ??= BuildRows(guided: true)
        : _conditional ??= BuildRows(guided: false);

    private ConditioningRows BuildRows(bool guided)
    {
        var manifest = Model.Manifest;
        var textLength = manifest.TextMaxLength;
        var textSize = textLength * manifest.TextEmbeddingDim;
        var lowResLength = Model.LowResLength;
        var rows = guided ? 2 * BatchSize : BatchSize;

        var textEmbeddings = new float[rows * textSize];    // [rows, L, Dt]
        var textMask = new float[rows * textLength];        // [rows, L]
        var lowResTokens = LowResTokens is null ? null : new long[rows * lowResLength];   // [rows, M]
        var pooledDim = manifest.PooledEmbeddingDim;
        var pooled = PooledTextEmbeddings is null ? null : new float[rows * pooledDim];         // [rows, Dp]
        const int microLength = TransformerModel.MicroConditionCount;
        var micro = MicroConditions is null ? null : new float[rows * microLength];           // [rows, 5]
        for (var row = 0; row < rows; row++)
        {
            var text = row < BatchSize ? 0 : 1;
            var image = row % BatchSize;
            TextEmbeddings.AsSpan(text * textSize, textSize).CopyTo(textEmbeddings.AsSpan(row * textSize));
            TextMask.AsSpan(text * textLength, textLength).CopyTo(textMask.AsSpan(row * textLength));
            LowResTokens?.AsSpan(image * lowResLength, lowResLength).CopyTo(lowResTokens.AsSpan(row * lowResLength));
            PooledTextEmbeddings?.AsSpan(text * pooledDim, pooledDim).CopyTo(pooled.AsSpan(row * pooledDim));
            MicroConditions?.AsSpan(image * microLength, microLength).CopyTo(micro.AsSpan(row * microLength));
        }

        return new ConditioningRows(rows, textEmbeddings, textMask, lowResTokens, pooled, micro);
    }
}

/// <summary>The conditioning inputs of one graph run, already laid out row by row.</summary>
/// <param name="Rows">Graph rows: B, or 2B with guidance.</param>
/// <param name="TextEmbeddings">[rows, L, Dt].</param>
/// <param name="TextMask">[rows, L].</param>
/// <param name="LowResTokens">[rows, M] (sr); null for base.</param>
/// <param name="PooledTextEmbeddings">[rows, Dp] (models with a pooled-text input); null otherwise.</param>
/// <param name="MicroConditions">[rows, 5] (models with a micro-conditions input); null otherwise.</param>
public sealed record ConditioningRows(
    int Rows, float[] TextEmbeddings, float[] TextMask, long[]? LowResTokens, float[]? PooledTextEmbeddings, float[]? MicroConditions);

/// <summary>One validated step of a stream.</summary>
/// <param name="Tokens">[B, N] current tokens; masked positions hold the mask token.</param>
/// <param name="Step">Step t, 0-based.</param>
/// <param name="Steps">Total steps T.</param>
/// <param name="GuidanceScale">Classifier-free guidance scale s.</param>
/// <param name="SamplingTemperature">Categorical sampling temperature; 0 = greedy.</param>
/// <param name="CommittedConfidence">Also score the tokens at unmasked positions (re-competition).</param>
public sealed record DecodeStepInput(int[] Tokens, int Step, int Steps, float GuidanceScale, float SamplingTemperature, bool CommittedConfidence);

/// <summary>What a step sends back.</summary>
/// <param name="Tokens">[B, N] sampled tokens at masked positions, input tokens elsewhere.</param>
/// <param name="Confidence">[B, N] probability of each sampled token; at unmasked positions 1, or the committed token's probability when the step asked for it.</param>
/// <param name="Rows">Graph rows the step took (B, or 2B with guidance).</param>
public sealed record StepResult(int[] Tokens, float[] Confidence, int Rows);
