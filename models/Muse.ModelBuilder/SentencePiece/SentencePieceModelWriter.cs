using System.Globalization;
using Google.Protobuf;
using Muse.ModelBuilder.SentencePiece.Proto;
using PieceType = Muse.ModelBuilder.SentencePiece.Proto.ModelProto.Types.SentencePiece.Types.Type;

namespace Muse.ModelBuilder.SentencePiece;

/// <summary>
/// Writes a SentencePiece Unigram model (<c>spiece.model</c>) for a closed vocabulary, T5 style:
/// <c>&lt;pad&gt;</c> = 0, <c>&lt;/s&gt;</c> = 1, <c>&lt;unk&gt;</c> = 2, <c>&lt;s&gt;</c> = 3, then one <c>▁word</c> piece
/// per word and single-character fallback pieces, so every text over letters, digits and common punctuation
/// tokenizes (a whole word whenever it is in the vocabulary; characters otherwise; <c>&lt;unk&gt;</c> for anything else).
/// T5 uses no beginning-of-sentence token: <c>&lt;s&gt;</c> exists only because Microsoft.ML.Tokenizers 2.0.1
/// fails on a model without one; hosts create the tokenizer with <c>addBeginningOfSentence: false</c> and
/// <c>addEndOfSentence: true</c>, so every text ends with <c>&lt;/s&gt;</c>.
/// </summary>
public static class SentencePieceModelWriter
{
    /// <summary>Id of <c>&lt;pad&gt;</c>.</summary>
    public const int PadId = 0;

    /// <summary>Id of <c>&lt;/s&gt;</c>, which ends every text.</summary>
    public const int EosId = 1;

    /// <summary>Id of <c>&lt;unk&gt;</c>.</summary>
    public const int UnkId = 2;

    /// <summary>Id of <c>&lt;s&gt;</c>, present for tokenizer compatibility and never emitted.</summary>
    public const int BosId = 3;

    /// <summary>SentencePiece's word-boundary marker (U+2581), prefixed to every word.</summary>
    public const string WordBoundary = "\u2581";

    // Unigram segmentation maximises the summed score: one word piece (−1) always beats spelling the
    // word out of character pieces (−10 each), and characters still cover words outside the vocabulary.
    private const float WordScore = -1f;
    private const float CharacterScore = -10f;

    private const string Punctuation = ".,!?'\"-:;()/&+";

    /// <summary>
    /// Builds the serialized model. Words are lower-cased (hosts lower-case captions, see
    /// <c>ModelManifest.LowercaseText</c>) and de-duplicated; their order fixes the ids, from 4 on.
    /// </summary>
    /// <exception cref="ArgumentException">A word is empty or contains white space.</exception>
    public static byte[] Build(IEnumerable<string> words) => BuildProto(words).ToByteArray();

    /// <summary>The pieces of <see cref="Build"/>'s model in id order (for tests and tools).</summary>
    public static IReadOnlyList<string> Pieces(IEnumerable<string> words) => BuildProto(words).Pieces.Select(p => p.Piece).ToList();

    private static ModelProto BuildProto(IEnumerable<string> words)
    {
        var model = new ModelProto();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        void AddPiece(string piece, float score, PieceType type)
        {
            if (seen.Add(piece))
            {
                model.Pieces.Add(new ModelProto.Types.SentencePiece { Piece = piece, Score = score, Type = type });
            }
        }

        AddPiece("<pad>", 0f, PieceType.Control);
        AddPiece("</s>", 0f, PieceType.Control);
        AddPiece("<unk>", 0f, PieceType.Unknown);
        AddPiece("<s>", 0f, PieceType.Control);
        foreach (var word in words)
        {
            if (string.IsNullOrEmpty(word) || word.Any(char.IsWhiteSpace))
            {
                throw new ArgumentException($"Vocabulary word '{word}' is empty or contains white space.", nameof(words));
            }

            AddPiece(WordBoundary + word.ToLower(CultureInfo.InvariantCulture), WordScore, PieceType.Normal);
        }

        AddPiece(WordBoundary, CharacterScore, PieceType.Normal);
        var characters = Enumerable.Range('a', 26).Concat(Enumerable.Range('A', 26)).Concat(Enumerable.Range('0', 10))
            .Select(c => ((char)c).ToString()).Concat(Punctuation.Select(c => c.ToString()));
        foreach (var character in characters)
        {
            AddPiece(character, CharacterScore, PieceType.Normal);
        }

        model.TrainerSpec = new TrainerSpec
        {
            ModelType = TrainerSpec.Types.ModelType.Unigram,
            VocabSize = model.Pieces.Count,
            PadId = PadId,
            EosId = EosId,
            UnkId = UnkId,
            BosId = BosId,
            BosPiece = "<s>",
            PadPiece = "<pad>",
            EosPiece = "</s>",
            UnkPiece = "<unk>",
            ByteFallback = false,
        };
        model.NormalizerSpec = new NormalizerSpec
        {
            Name = "identity",
            AddDummyPrefix = true,
            RemoveExtraWhitespaces = true,
            EscapeWhitespaces = true,
            PrecompiledCharsmap = ByteString.Empty,
        };
        return model;
    }
}
