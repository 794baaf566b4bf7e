using Grpc.Core;
using Muse.Hosting;
using Muse.Inference;
using Muse.Protos.V1;

namespace Muse.TextEncoder;

/// <summary><c>muse.v1.TextEncoder</c>: prompts → text embeddings + mask (+ pooled embeddings for CLIP).</summary>
public sealed class TextEncoderService(ServedModels<TextEncoderModel> encoders) : Protos.V1.TextEncoder.TextEncoderBase
{
    /// <summary>Most texts in one request (proto contract).</summary>
    public const int MaxTexts = 64;

    /// <summary>Most UTF-16 characters in one text, checked before tokenizing.</summary>
    public const int MaxTextChars = 2000;

    public override Task<EncodeReply> Encode(EncodeRequest request, ServerCallContext context)
    {
        MuseValidation.CountInRange(request.Texts, 1, MaxTexts);
        for (var i = 0; i < request.Texts.Count; i++)
        {
            MuseValidation.MaxLength(request.Texts[i], MaxTextChars, $"texts[{i}]");
        }

        var encoder = encoders.Get(request.Model);
        var tokenized = new int[request.Texts.Count][];
        for (var i = 0; i < tokenized.Length; i++)
        {
            tokenized[i] = encoder.Tokenize(request.Texts[i]);
            if (tokenized[i].Length > encoder.MaxLength)
            {
                ThrowTooLong(i, tokenized[i].Length, encoder);
            }
        }

        using var activity = MuseTelemetry.ActivitySource.StartActivity("TextEncoder.Encode");
        activity?.SetTag("muse.model", encoder.Model.Manifest.Id);
        activity?.SetTag("muse.batch", tokenized.Length);
        var (embeddings, mask, tokenCounts, pooled) = encoder.Encode(tokenized, context.CancellationToken);
        var reply = new EncodeReply
        {
            Embeddings = embeddings,
            Mask = mask,
            TokenCounts = { tokenCounts },
            Model = StageInfoService.MapRef(encoder.Model.Manifest),
        };
        if (pooled is not null)
        {
            reply.PooledEmbeddings = pooled;
        }

        return Task.FromResult(reply);
    }

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    private static void ThrowTooLong(int index, int tokens, TextEncoderModel encoder) =>
        MuseValidation.ThrowInvalidArgument(
            $"texts[{index}]",
            $"is {tokens} tokens long (end-of-sequence included); {encoder.Model.Manifest.Id} accepts at most {encoder.MaxLength}. Shorten the text.");
}
