using Muse.Decoding;

namespace Muse.Scenes;

/// <summary>
/// Draws data set samples. Every sample is a pure function of <c>(seed, index)</c> through
/// <see cref="CounterRng"/>, so any slice of the data set can be generated anywhere, in any order.
/// </summary>
/// <remarks>
/// Distribution: one or two objects (1/2 each); background stated in half the captions; each size stated
/// with probability 1/2; shape, colour and cell uniform; the two objects of a pair have different colours;
/// the relation is uniform. Unstated attributes are resolved uniformly by <see cref="Resolve"/>. The hard held-out
/// draw (<see cref="SampleHardHeldOut"/>) has a distribution of its own.
/// </remarks>
public static class SceneSampler
{
    private const ulong TrainingStream = 1;
    private const ulong HeldOutStream = 2;
    private const ulong ResolveStream = 3;
    private const ulong HardHeldOutStream = 4;

    private static readonly GridPosition[] Corners =
        [GridPosition.TopLeft, GridPosition.TopRight, GridPosition.BottomLeft, GridPosition.BottomRight];

    // The pairs of distinct rows (or columns) a relation can use: first index before second.
    private static readonly (int First, int Second)[] OrderedPairs = [(0, 1), (0, 2), (1, 2)];

    /// <summary>
    /// Training sample <paramref name="index"/> of the data set with <paramref name="seed"/>. Never a held-out
    /// combination (see <see cref="Dataset.IsHeldOut(SceneDescription)"/>): those are rejected and redrawn.
    /// </summary>
    public static SceneSample Sample(ulong seed, long index) => Draw(seed, index, TrainingStream, RandomDescription, heldOut: false);

    /// <summary>Held-out sample <paramref name="index"/>: the same distribution restricted to held-out combinations.</summary>
    public static SceneSample SampleHeldOut(ulong seed, long index) => Draw(seed, index, HeldOutStream, RandomDescription, heldOut: true);

    /// <summary>
    /// Hard held-out sample <paramref name="index"/>, restricted to held-out combinations like
    /// <see cref="SampleHeldOut"/> but drawn to stress what generation gets wrong: a pair three times in four, every
    /// size and the background stated; half the one-object prompts are a small shape in a corner.
    /// </summary>
    public static SceneSample SampleHardHeldOut(ulong seed, long index) => Draw(seed, index, HardHeldOutStream, HardDescription, heldOut: true);

    /// <summary>
    /// A scene for <paramref name="description"/>: unstated background and sizes drawn uniformly; for a pair,
    /// two cells in one column (above, below) or one row (left of, right of) in the stated order.
    /// </summary>
    public static SceneSpec Resolve(SceneDescription description, ulong seed)
    {
        ArgumentNullException.ThrowIfNull(description);
        description.Validate();
        var dice = new Dice(seed, ResolveStream, 0, 0);
        var background = description.Background ?? dice.Pick<Background>();
        var sizes = description.Objects.Select(o => o.Size ?? dice.Pick<ObjectSize>()).ToArray();
        GridPosition[] cells;
        if (description.Relation is { } relation)
        {
            var line = dice.Next(3);
            var (first, second) = OrderedPairs[dice.Next(OrderedPairs.Length)];
            if (relation is Relation.Below or Relation.RightOf)
            {
                (first, second) = (second, first);
            }

            cells = relation is Relation.Above or Relation.Below
                ? [SceneGeometry.Cell(first, line), SceneGeometry.Cell(second, line)]
                : [SceneGeometry.Cell(line, first), SceneGeometry.Cell(line, second)];
        }
        else
        {
            cells = [description.Objects[0].Position ?? dice.Pick<GridPosition>()];
        }

        return new SceneSpec(
            background,
            [.. description.Objects.Select((o, i) => new SceneObject(o.Shape, o.Colour, sizes[i], cells[i]))]);
    }

    private static SceneSample Draw(ulong seed, long index, ulong stream, Func<Dice, SceneDescription> describe, bool heldOut)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        for (var attempt = 0UL; ; attempt++)
        {
            var dice = new Dice(seed, stream, (ulong)index, attempt);
            var description = describe(dice);
            if (Dataset.IsHeldOut(description) == heldOut)
            {
                return new SceneSample(description, Resolve(description, dice.NextSeed()), Captions.Describe(description, dice.NextSeed()));
            }
        }
    }

    private static SceneDescription RandomDescription(Dice dice)
    {
        Background? background = dice.Chance() ? dice.Pick<Background>() : null;
        ObjectDescription RandomObject(Colour colour) =>
            new(dice.Pick<Shape>(), colour, dice.Chance() ? dice.Pick<ObjectSize>() : null);

        var first = dice.Pick<Colour>();
        if (dice.Chance())
        {
            return SceneDescription.OneObject(RandomObject(first) with { Position = dice.Pick<GridPosition>() }, background);
        }

        var second = OtherColour(dice, first);
        return SceneDescription.Pair(RandomObject(first), dice.Pick<Relation>(), RandomObject(second), background);
    }

    // Draws are rejected unless held out, which keeps these proportions (about 5 % of either kind's contents are).
    private static SceneDescription HardDescription(Dice dice)
    {
        var background = dice.Pick<Background>();
        var first = dice.Pick<Colour>();
        if (dice.Next(4) == 0)
        {
            var smallInCorner = dice.Chance();
            var size = smallInCorner ? ObjectSize.Small : dice.Pick<ObjectSize>();
            var cell = smallInCorner ? Corners[dice.Next(Corners.Length)] : dice.Pick<GridPosition>();
            return SceneDescription.OneObject(new(dice.Pick<Shape>(), first, size, cell), background);
        }

        var second = OtherColour(dice, first);
        return SceneDescription.Pair(
            new(dice.Pick<Shape>(), first, dice.Pick<ObjectSize>()), dice.Pick<Relation>(), new(dice.Pick<Shape>(), second, dice.Pick<ObjectSize>()), background);
    }

    // A colour other than first, uniformly: the two objects of a pair never share one.
    private static Colour OtherColour(Dice dice, Colour first)
    {
        var colourCount = Enum.GetValues<Colour>().Length;
        return (Colour)(((int)first + 1 + dice.Next(colourCount - 1)) % colourCount);
    }

    /// <summary>Successive draws at one counter coordinate: <c>U(seed, stream, step, attempt·2^16 + k)</c>.</summary>
    private sealed class Dice(ulong seed, ulong stream, ulong step, ulong attempt)
    {
        private ulong _k;

        public ulong NextSeed() =>
            CounterRng.Hash(seed, stream, step, (attempt << 16) + _k++, (ulong)RngPurpose.Data);

        public int Next(int count) => (int)(NextSeed() % (ulong)count);

        public bool Chance() => Next(2) == 0;

        public T Pick<T>()
            where T : struct, Enum
        {
            var values = Enum.GetValues<T>();
            return values[Next(values.Length)];
        }
    }
}
