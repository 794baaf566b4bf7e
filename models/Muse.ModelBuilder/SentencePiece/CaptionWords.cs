namespace Muse.ModelBuilder.SentencePiece;

/// <summary>
/// Words of the synthetic-scene captions (Muse.Scenes) plus common paraphrase words: the vocabulary of
/// the random fixture's SentencePiece model. A trained set passes its caption grammar's own vocabulary instead.
/// </summary>
public static class CaptionWords
{
    /// <summary>The default word list, lower case, without duplicates.</summary>
    public static IReadOnlyList<string> Default { get; } =
    [
        // articles, numbers, connectives
        "a", "an", "the", "one", "two", "and", "with", "of", "is", "there", "are", "some",
        // sizes
        "large", "small", "big", "little", "tiny", "huge",
        // colours
        "red", "green", "blue", "yellow", "purple", "orange", "white", "black", "gray", "grey", "colored", "coloured",
        // shapes
        "circle", "square", "triangle", "circles", "squares", "triangles", "shape", "shapes", "disc", "dot", "box",
        // positions and relations
        "on", "in", "at", "to", "left", "right", "top", "bottom", "center", "centre", "middle", "corner",
        "upper", "lower", "side", "above", "below", "under", "over", "next", "beside", "near",
        // scene words
        "background", "image", "picture", "scene", "plain", "solid", "showing", "drawn", "placed",
        // later additions go last, so earlier ids never move
        "against",
    ];
}
