using Microsoft.ML.Tokenizers;
using Muse.ModelBuilder.SentencePiece;
using Muse.Scenes;

namespace Muse.Training;

/// <summary>
/// Tokenizes captions exactly as the text encoder service does: the SentencePiece model the builder makes
/// from <see cref="Captions.Vocabulary"/>, text lower-cased with white space collapsed, no BOS, EOS (1)
/// appended, padded with 0 to <c>maxLength</c>. Texts longer than that keep their first L−1 ids and EOS.
/// </summary>
internal sealed class CaptionTokenizer
{
    public const int PadId = 0;
    public const int EosId = 1;
    private readonly SentencePieceTokenizer _tokenizer;

    public CaptionTokenizer(int maxLength)
    {
        MaxLength = maxLength;
        ModelBytes = SentencePieceModelWriter.Build(Captions.Vocabulary);
        VocabSize = SentencePieceModelWriter.Pieces(Captions.Vocabulary).Count;
        using var stream = new MemoryStream(ModelBytes);
        _tokenizer = SentencePieceTokenizer.Create(stream, addBeginningOfSentence: false, addEndOfSentence: false);
    }

    /// <summary>Serialized spiece.model (exported with the text encoder).</summary>
    public byte[] ModelBytes { get; }

    /// <summary>Pieces in the model: the T5 vocabulary size V.</summary>
    public int VocabSize { get; }

    public int MaxLength { get; }

    /// <summary>Lower-case and collapse white space, as the service's normalisation.</summary>
    public static string Normalize(string text) =>
        string.Join(' ', text.ToLowerInvariant().Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));

    /// <summary>(ids [L], mask [L]) of <paramref name="text"/>.</summary>
    public (long[] Ids, long[] Mask) Encode(string text)
    {
        var pieces = _tokenizer.EncodeToIds(Normalize(text), addBeginningOfSentence: false, addEndOfSentence: false);
        var count = Math.Min(pieces.Count, MaxLength - 1);
        var ids = new long[MaxLength];
        var mask = new long[MaxLength];
        for (var i = 0; i < count; i++)
        {
            ids[i] = pieces[i];
            mask[i] = 1;
        }

        ids[count] = EosId;
        mask[count] = 1;
        return (ids, mask);
    }
}
