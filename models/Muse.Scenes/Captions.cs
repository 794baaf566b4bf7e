using System.Diagnostics.CodeAnalysis;
using System.Text;
using Muse.Decoding;

namespace Muse.Scenes;

/// <summary>
/// The caption grammar. A one-object caption is <c>[there is] OBJECT POSITION [BACKGROUND]</c>, a two-object
/// caption <c>OBJECT RELATION OBJECT [BACKGROUND]</c>, with <c>OBJECT = a|an [SIZE] COLOUR SHAPE</c>. Every
/// slot has paraphrases (the first of each list is the plain one), e.g. "a large red circle on the left",
/// "there is a big red circle on the left side on a black background", "a green triangle above a yellow circle",
/// "a red square to the left of a blue circle". Captions are lower-case words separated by single spaces.
/// </summary>
public static class Captions
{
    private static readonly (ObjectSize Value, string[] Phrases)[] Sizes =
    [
        (ObjectSize.Small, ["small", "little"]),
        (ObjectSize.Large, ["large", "big"]),
    ];

    private static readonly (GridPosition Value, string[] Phrases)[] Positions =
    [
        (GridPosition.TopLeft, ["in the top left corner", "in the top left", "at the top left"]),
        (GridPosition.Top, ["at the top", "near the top"]),
        (GridPosition.TopRight, ["in the top right corner", "in the top right", "at the top right"]),
        (GridPosition.Left, ["on the left", "on the left side"]),
        (GridPosition.Center, ["in the center", "in the middle"]),
        (GridPosition.Right, ["on the right", "on the right side"]),
        (GridPosition.BottomLeft, ["in the bottom left corner", "in the bottom left", "at the bottom left"]),
        (GridPosition.Bottom, ["at the bottom", "near the bottom"]),
        (GridPosition.BottomRight, ["in the bottom right corner", "in the bottom right", "at the bottom right"]),
    ];

    private static readonly (Relation Value, string[] Phrases)[] Relations =
    [
        (Relation.Above, ["above", "over"]),
        (Relation.Below, ["below", "under"]),
        (Relation.LeftOf, ["left of", "to the left of"]),
        (Relation.RightOf, ["right of", "to the right of"]),
    ];

    private static readonly (Background Value, string[] Phrases)[] Backgrounds =
    [
        (Background.White, ["on a white background", "against a white background"]),
        (Background.Black, ["on a black background", "against a black background"]),
        (Background.Gray, ["on a gray background", "against a gray background"]),
    ];

    private static readonly (Colour Value, string[] Phrases)[] Colours =
        [.. Enum.GetValues<Colour>().Select(c => (c, new[] { c.ToString().ToLowerInvariant() }))];

    private static readonly (Shape Value, string[] Phrases)[] Shapes =
        [.. Enum.GetValues<Shape>().Select(s => (s, new[] { s.ToString().ToLowerInvariant() }))];

    private static readonly string[] Articles = ["a", "an"];
    private const string ThereIs = "there is";

    /// <summary>Every word the grammar can emit, lower-case, sorted ordinally, without duplicates.</summary>
    public static IReadOnlyList<string> Vocabulary { get; } =
        [.. GrammarPhrases().SelectMany(p => p.Split(' ')).Distinct().Order(StringComparer.Ordinal)];

    /// <summary>
    /// A caption for <paramref name="description"/>; the paraphrase of every slot is a pure function of
    /// <paramref name="seed"/>. Unstated size and background are left out of the caption.
    /// </summary>
    public static string Describe(SceneDescription description, ulong seed)
    {
        ArgumentNullException.ThrowIfNull(description);
        description.Validate();
        var draw = 0UL;
        int Pick(int count) => (int)(CounterRng.Hash(seed, 0, 0, draw++, (ulong)RngPurpose.Data) % (ulong)count);
        string Choose<T>((T Value, string[] Phrases)[] table, T value)
        {
            var phrases = Array.Find(table, e => EqualityComparer<T>.Default.Equals(e.Value, value)).Phrases;
            return phrases[Pick(phrases.Length)];
        }

        string Object(ObjectDescription o)
        {
            var size = o.Size is { } s ? Choose(Sizes, s) + " " : "";
            var colour = Choose(Colours, o.Colour);
            var article = "aeiou".Contains((size.Length > 0 ? size : colour)[0], StringComparison.Ordinal) ? "an" : "a";
            return $"{article} {size}{colour} {Choose(Shapes, o.Shape)}";
        }

        var text = new StringBuilder();
        if (description.Relation is { } relation)
        {
            text.Append(Object(description.Objects[0])).Append(' ').Append(Choose(Relations, relation))
                .Append(' ').Append(Object(description.Objects[1]));
        }
        else
        {
            // One caption in four opens with "there is"; the plain form stays the most common.
            text.Append(Pick(4) == 0 ? ThereIs + " " : "").Append(Object(description.Objects[0]))
                .Append(' ').Append(Choose(Positions, description.Objects[0].Position!.Value));
        }

        if (description.Background is { } background)
        {
            text.Append(' ').Append(Choose(Backgrounds, background));
        }

        return text.ToString();
    }

    /// <summary>A caption stating every attribute of a resolved scene (see <see cref="SceneDescription.Of"/>).</summary>
    public static string Describe(SceneSpec spec, ulong seed) => Describe(SceneDescription.Of(spec), seed);

    /// <summary>Reads a caption of this grammar back into what it says (case and extra spaces are ignored).</summary>
    /// <returns>False when <paramref name="caption"/> is not a caption of the grammar.</returns>
    public static bool TryParse(string caption, [NotNullWhen(true)] out SceneDescription? description)
    {
        ArgumentNullException.ThrowIfNull(caption);
        var reader = new Reader(caption.ToLowerInvariant().Split(' ', StringSplitOptions.RemoveEmptyEntries));
        description = null;
        var thereIs = reader.Take(ThereIs);
        if (!TryReadObject(reader, out var first))
        {
            return false;
        }

        if (!thereIs && reader.TryTake(Relations, out var relation))
        {
            if (!TryReadObject(reader, out var second))
            {
                return false;
            }

            description = SceneDescription.Pair(first, relation, second, ReadBackground(reader));
        }
        else if (reader.TryTake(Positions, out var position))
        {
            description = SceneDescription.OneObject(first with { Position = position }, ReadBackground(reader));
        }

        if (!reader.AtEnd)
        {
            description = null;
        }

        return description is not null;
    }

    /// <summary>Reads a caption of this grammar; throws <see cref="FormatException"/> for any other text.</summary>
    public static SceneDescription Parse(string caption) =>
        TryParse(caption, out var description) ? description : throw new FormatException($"Not a scene caption: '{caption}'.");

    /// <summary>Every phrase of every slot in a fixed order: the grammar as text, hashed into the data set hash.</summary>
    internal static IEnumerable<string> GrammarPhrases() =>
        new[] { ThereIs }.Concat(Articles)
            .Concat(Phrases(Sizes)).Concat(Phrases(Colours)).Concat(Phrases(Shapes))
            .Concat(Phrases(Positions)).Concat(Phrases(Relations)).Concat(Phrases(Backgrounds));

    private static IEnumerable<string> Phrases<T>((T Value, string[] Phrases)[] table) =>
        table.SelectMany(e => e.Phrases);

    private static bool TryReadObject(Reader reader, [NotNullWhen(true)] out ObjectDescription? description)
    {
        description = null;
        if (!Articles.Any(reader.Take))
        {
            return false;
        }

        ObjectSize? size = reader.TryTake(Sizes, out var s) ? s : null;
        if (!reader.TryTake(Colours, out var colour) || !reader.TryTake(Shapes, out var shape))
        {
            return false;
        }

        description = new ObjectDescription(shape, colour, size);
        return true;
    }

    private static Background? ReadBackground(Reader reader) =>
        reader.TryTake(Backgrounds, out var background) ? background : null;

    private sealed class Reader(string[] words)
    {
        private int _next;

        public bool AtEnd => _next == words.Length;

        public bool Take(string phrase)
        {
            var parts = phrase.Split(' ');
            if (_next + parts.Length > words.Length || !parts.AsSpan().SequenceEqual(words.AsSpan(_next, parts.Length)))
            {
                return false;
            }

            _next += parts.Length;
            return true;
        }

        // The longest matching phrase wins, so "on the left side" is not read as "on the left".
        public bool TryTake<T>((T Value, string[] Phrases)[] table, out T value)
        {
            value = default!;
            var best = "";
            foreach (var (candidate, phrases) in table)
            {
                foreach (var phrase in phrases.Where(p => p.Length > best.Length))
                {
                    var start = _next;
                    if (Take(phrase))
                    {
                        (best, value) = (phrase, candidate);
                        _next = start;
                    }
                }
            }

            return best.Length > 0 && Take(best);
        }
    }
}
