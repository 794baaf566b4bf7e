using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Muse.Decoding;

namespace Muse.Scenes;

/// <summary>
/// The train / held-out split and the identity of the data set.
/// </summary>
/// <remarks>
/// The split is by scene content, not by caption text, so no paraphrase of a held-out scene is ever trained on.
/// Content is (colour, shape, cell) for one object, and (colour, shape, relation, colour, shape) for a pair
/// with "below"/"right of" first rewritten as "above"/"left of" with the objects swapped (the same layout). A
/// content is held out when its counter hash falls in the lowest 5 %: about 8 of the 162 one-object and 27 of
/// the 540 canonical pair contents. Sizes and backgrounds play no part. The six demonstration prompts of the
/// design (e.g. "a large red circle on the left") are never held out.
/// </remarks>
public static class Dataset
{
    /// <summary>Version of the generator; changing the grammar, palette, geometry or sampler bumps it.</summary>
    public const string Version = "muse-scenes/1";

    /// <summary>Fraction of contents held out, in per mille: 50 (5 %).</summary>
    public const int HeldOutPerMille = 50;

    // A fixed salt so the held-out set is stable across runs and machines.
    private const ulong HoldOutSalt = 0x5CE9E5;

    private static readonly SceneDescription[] DemoScenes =
    [
        SceneDescription.OneObject(new(Shape.Circle, Colour.Red, ObjectSize.Large, GridPosition.Left)),
        SceneDescription.OneObject(new(Shape.Square, Colour.Yellow, Position: GridPosition.Top)),
        SceneDescription.OneObject(new(Shape.Triangle, Colour.Blue, Position: GridPosition.Center)),
        SceneDescription.OneObject(new(Shape.Square, Colour.Blue, ObjectSize.Small, GridPosition.TopRight), Background.Black),
        SceneDescription.Pair(new(Shape.Triangle, Colour.Green), Relation.Above, new(Shape.Circle, Colour.Yellow)),
        SceneDescription.Pair(new(Shape.Square, Colour.Red), Relation.LeftOf, new(Shape.Circle, Colour.Blue)),
    ];

    private static readonly HashSet<(ulong Kind, ulong Key)> DemoContents = [.. DemoScenes.Select(ContentKey)];

    /// <summary>
    /// SHA-256 (lower-case hex) over the generator version, the grammar's phrases, the palette, the geometry, the
    /// renderer's supersampling and the split rule: equal hashes mean equal data sets. Written into model manifests.
    /// </summary>
    public static string DatasetHash { get; } = ComputeHash();

    /// <summary>Whether the scene content of <paramref name="description"/> belongs to the held-out set.</summary>
    public static bool IsHeldOut(SceneDescription description)
    {
        ArgumentNullException.ThrowIfNull(description);
        var key = ContentKey(description);
        return !DemoContents.Contains(key)
            && CounterRng.Hash(HoldOutSalt, key.Kind, key.Key, 0, (ulong)RngPurpose.Data) % 1000 < HeldOutPerMille;
    }

    /// <summary>Whether <paramref name="caption"/> describes held-out content; false for text outside the grammar.</summary>
    public static bool IsHeldOut(string caption) =>
        Captions.TryParse(caption, out var description) && IsHeldOut(description);

    /// <summary>Training samples <paramref name="start"/> to <paramref name="start"/> + <paramref name="count"/> − 1
    /// (see <see cref="SceneSampler.Sample"/>), generated lazily.</summary>
    public static IEnumerable<SceneSample> TrainingSamples(ulong seed, long start, int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(start);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        return Enumerable.Range(0, count).Select(i => SceneSampler.Sample(seed, start + i));
    }

    /// <summary>The first <paramref name="count"/> held-out samples for evaluation (seed 0 unless given).</summary>
    public static IReadOnlyList<SceneSample> HeldOutSamples(int count, ulong seed = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        return [.. Enumerable.Range(0, count).Select(i => SceneSampler.SampleHeldOut(seed, i))];
    }

    /// <summary>
    /// The first <paramref name="count"/> samples of the hard held-out draw (see
    /// <see cref="SceneSampler.SampleHardHeldOut"/>): mostly pairs with sizes and backgrounds stated, and small shapes
    /// in corners. The same held-out contents as <see cref="HeldOutSamples"/>, another distribution over them.
    /// </summary>
    public static IReadOnlyList<SceneSample> HardHeldOutSamples(int count, ulong seed)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        return [.. Enumerable.Range(0, count).Select(i => SceneSampler.SampleHardHeldOut(seed, i))];
    }

    private static (ulong Kind, ulong Key) ContentKey(SceneDescription description)
    {
        description.Validate();
        var (a, b) = (description.Objects[0], description.Objects[^1]);
        if (description.Relation is not { } relation)
        {
            return (1, (ulong)((((int)a.Colour * 3) + (int)a.Shape) * 9) + (ulong)a.Position!.Value);
        }

        // "B below A" shows the same layout as "A above B": one content, one side of the split.
        if (relation is Relation.Below or Relation.RightOf)
        {
            (a, b) = (b, a);
            relation = relation == Relation.Below ? Relation.Above : Relation.LeftOf;
        }

        var key = ((((((int)a.Colour * 3) + (int)a.Shape) * 4) + (int)relation) * 6) + (int)b.Colour;
        return (2, (ulong)((key * 3) + (int)b.Shape));
    }

    private static string ComputeHash()
    {
        var text = new StringBuilder()
            .AppendLine(Version)
            .AppendLine(string.Join('|', Captions.GrammarPhrases()))
            .AppendLine(string.Join('|', Enum.GetValues<Colour>().Select(c => $"{c}={SceneGeometry.Rgb(c)}")))
            .AppendLine(string.Join('|', Enum.GetValues<Background>().Select(b => $"{b}={SceneGeometry.Rgb(b)}")))
            .AppendLine(string.Create(CultureInfo.InvariantCulture, $"extent={SceneGeometry.LargeExtent},{SceneGeometry.SmallExtent}"))
            .AppendLine(string.Create(CultureInfo.InvariantCulture, $"supersampling={SceneRenderer.Supersampling}"))
            .AppendLine(string.Create(CultureInfo.InvariantCulture, $"heldout={HoldOutSalt}:{HeldOutPerMille}/1000"));
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())));
    }
}
