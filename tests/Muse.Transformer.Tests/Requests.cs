using Muse.Decoding;
using Muse.Protos;
using Muse.Protos.V1;
using Muse.Repository;

namespace Muse.Transformer.Tests;

/// <summary>Builders of Decode messages for a model described by StageInfo; all content is a function of its seeds.</summary>
internal static class Requests
{
    /// <summary>Real text tokens in row 0 (the prompt); row 1 (the empty negative prompt) holds only end-of-sequence.</summary>
    public const int PromptTokens = 6;

    public static Conditioning Conditioning(ModelDescriptor model, ulong[] seeds, ulong textSeed = 11, ulong lowResSeed = 5)
    {
        var conditioning = new Conditioning
        {
            Model = $"{model.Name}/{model.Version}",
            TextEmbeddings = TextEmbeddings(model, textSeed),
            TextMask = TextMask(model),
        };
        conditioning.Seeds.AddRange(seeds);
        if (model.Stage == Stages.SuperResolution)
        {
            conditioning.LowResTokens = LowResTokens(model, seeds.Length, lowResSeed);
        }

        return conditioning;
    }

    /// <summary>float32 [2, L, Dt] standard normal values.</summary>
    public static Tensor TextEmbeddings(ModelDescriptor model, ulong textSeed)
    {
        var values = new float[2 * model.TextMaxLength * model.TextEmbeddingDim];  // [2, L, Dt]
        for (var i = 0; i < values.Length; i++)
        {
            values[i] = (float)CounterRng.Normal(textSeed, 0, 0, (ulong)i, (ulong)RngPurpose.Data);
        }

        return TensorConvert.FromFloat32(values, 2, model.TextMaxLength, model.TextEmbeddingDim);
    }

    /// <summary>int32 [2, L]: <see cref="PromptTokens"/> tokens in row 0, one in row 1.</summary>
    public static Tensor TextMask(ModelDescriptor model)
    {
        var mask = new int[2 * model.TextMaxLength];    // [2, L]
        mask.AsSpan(0, PromptTokens).Fill(1);
        mask[model.TextMaxLength] = 1;
        return TensorConvert.FromInt32(mask, 2, model.TextMaxLength);
    }

    /// <summary>int32 [batch, lh, lw] codebook ids.</summary>
    public static Tensor LowResTokens(ModelDescriptor model, int batch, ulong seed)
    {
        var tokens = CodebookIds(batch * model.LowResGridHeight * model.LowResGridWidth, model.CodebookSize, seed);
        return TensorConvert.FromInt32(tokens, batch, model.LowResGridHeight, model.LowResGridWidth);
    }

    /// <summary>[batch, N] every position masked.</summary>
    public static int[] AllMasked(ModelDescriptor model, int batch) =>
        Enumerable.Repeat(model.MaskTokenId, batch * model.GridHeight * model.GridWidth).ToArray();

    /// <summary>[batch, N] every other position masked, codebook ids (from <paramref name="seed"/>) elsewhere.</summary>
    public static int[] PartlyMasked(ModelDescriptor model, int batch, ulong seed = 3)
    {
        var tokens = CodebookIds(batch * model.GridHeight * model.GridWidth, model.CodebookSize, seed);
        for (var i = 0; i < tokens.Length; i += 2)
        {
            tokens[i] = model.MaskTokenId;
        }

        return tokens;
    }

    public static DecodeRequest Step(
        ModelDescriptor model, int[] tokens, int step = 0, int steps = 8, float guidanceScale = 3f, float samplingTemperature = 1f,
        bool committedConfidence = false)
    {
        var batch = tokens.Length / (model.GridHeight * model.GridWidth);
        return new DecodeRequest
        {
            Step = new DecodeStep
            {
                Tokens = TensorConvert.FromInt32(tokens, batch, model.GridHeight, model.GridWidth),
                Step = step,
                Steps = steps,
                GuidanceScale = guidanceScale,
                SamplingTemperature = samplingTemperature,
                CommittedConfidence = committedConfidence,
            },
        };
    }

    public static DecodeRequest Open(Conditioning conditioning) => new() { Conditioning = conditioning };

    public static int[] Tokens(DecodeReply reply) => TensorConvert.ToInt32(reply.Tokens, "tokens");

    public static float[] Confidence(DecodeReply reply) => TensorConvert.ToFloat32(reply.Confidence, "confidence");

    private static int[] CodebookIds(int count, int codebookSize, ulong seed)
    {
        var ids = new int[count];
        for (var i = 0; i < count; i++)
        {
            ids[i] = (int)(CounterRng.Hash(seed, 0, 0, (ulong)i, (ulong)RngPurpose.Data) % (ulong)codebookSize);
        }

        return ids;
    }
}
