using Microsoft.ML.Tokenizers;
using Muse.ModelBuilder.SentencePiece;

namespace Muse.ModelBuilder.Tests;

public sealed class SentencePieceModelWriterTests
{
    private static SentencePieceTokenizer CreateSut(IEnumerable<string>? words = null)
    {
        using var stream = new MemoryStream(SentencePieceModelWriter.Build(words ?? CaptionWords.Default));
        return SentencePieceTokenizer.Create(stream, addBeginningOfSentence: false, addEndOfSentence: true);
    }

    [Fact]
    public void Build_Always_PutsT5SpecialTokensFirst()
    {
        var pieces = SentencePieceModelWriter.Pieces(CaptionWords.Default);

        Assert.Equal(["<pad>", "</s>", "<unk>", "<s>"], pieces.Take(4));
        Assert.Equal("\u2581a", pieces[4]);
        Assert.Equal(pieces.Count, pieces.Distinct().Count());
    }

    [Fact]
    public void Encode_CaptionOfVocabularyWords_GivesWholeWordPiecesThenEos()
    {
        var sut = CreateSut();
        var pieces = SentencePieceModelWriter.Pieces(CaptionWords.Default).ToList();

        var tokens = sut.EncodeToTokens("a large red circle on the left", out _);

        string[] words = ["a", "large", "red", "circle", "on", "the", "left"];
        Assert.Equal([.. words.Select(w => "\u2581" + w), "</s>"], tokens.Select(t => t.Value));
        Assert.Equal([.. words.Select(w => pieces.IndexOf("\u2581" + w)), SentencePieceModelWriter.EosId], tokens.Select(t => t.Id));
    }

    [Fact]
    public void Encode_WordOutsideVocabulary_FallsBackToCharactersWithoutUnknown()
    {
        var sut = CreateSut();

        var ids = sut.EncodeToIds("a zebra");

        Assert.Equal(SentencePieceModelWriter.EosId, ids[^1]);
        Assert.DoesNotContain(SentencePieceModelWriter.UnkId, ids);
        Assert.True(ids.Count >= 7, "'zebra' is spelled out of character pieces");
        Assert.Equal("a zebra", sut.Decode(ids));
    }

    [Fact]
    public void Encode_CharacterOutsideAlphabet_GivesUnknown()
    {
        var sut = CreateSut();

        var ids = sut.EncodeToIds("a \u00e9");

        Assert.Contains(SentencePieceModelWriter.UnkId, ids);
    }

    [Fact]
    public void Build_CustomVocabulary_LowerCasesAndDeduplicates()
    {
        var pieces = SentencePieceModelWriter.Pieces(["Zebra", "zebra", "stripes"]);

        Assert.Equal(["\u2581zebra", "\u2581stripes"], pieces.Skip(4).Take(2));
        Assert.Equal([SentencePieceModelWriter.EosId], CreateSut(["zebra"]).EncodeToIds("zebra").Skip(1));
    }

    [Fact]
    public void Build_WordWithSpace_Throws()
    {
        Assert.Throws<ArgumentException>(() => SentencePieceModelWriter.Build(["top left"]));
    }
}
