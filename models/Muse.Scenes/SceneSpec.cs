namespace Muse.Scenes;

/// <summary>A flat shape of a scene.</summary>
public enum Shape
{
    /// <summary>A disc.</summary>
    Circle,

    /// <summary>An axis-aligned square.</summary>
    Square,

    /// <summary>An isosceles triangle pointing up, as wide as it is tall.</summary>
    Triangle,
}

/// <summary>The colour of a shape; RGB values in <see cref="SceneGeometry.Rgb(Colour)"/>.</summary>
public enum Colour
{
    /// <summary>(220, 40, 40).</summary>
    Red,

    /// <summary>(40, 180, 60).</summary>
    Green,

    /// <summary>(40, 80, 220).</summary>
    Blue,

    /// <summary>(240, 210, 40).</summary>
    Yellow,

    /// <summary>(150, 60, 200).</summary>
    Purple,

    /// <summary>(245, 140, 30).</summary>
    Orange,
}

/// <summary>The size of a shape; extents in <see cref="SceneGeometry.Extent(ObjectSize)"/>.</summary>
public enum ObjectSize
{
    /// <summary>About 0.16 of the image side.</summary>
    Small,

    /// <summary>About 0.28 of the image side.</summary>
    Large,
}

/// <summary>The solid background of a scene.</summary>
public enum Background
{
    /// <summary>(255, 255, 255).</summary>
    White,

    /// <summary>(0, 0, 0).</summary>
    Black,

    /// <summary>(128, 128, 128).</summary>
    Gray,
}

/// <summary>A cell of the 3×3 grid, row-major: <c>row = value / 3</c>, <c>column = value % 3</c>.</summary>
public enum GridPosition
{
    /// <summary>Row 0, column 0.</summary>
    TopLeft,

    /// <summary>Row 0, column 1.</summary>
    Top,

    /// <summary>Row 0, column 2.</summary>
    TopRight,

    /// <summary>Row 1, column 0.</summary>
    Left,

    /// <summary>Row 1, column 1.</summary>
    Center,

    /// <summary>Row 1, column 2.</summary>
    Right,

    /// <summary>Row 2, column 0.</summary>
    BottomLeft,

    /// <summary>Row 2, column 1.</summary>
    Bottom,

    /// <summary>Row 2, column 2.</summary>
    BottomRight,
}

/// <summary>How the first object of a two-object scene stands to the second.</summary>
public enum Relation
{
    /// <summary>The first object is in a higher row than the second.</summary>
    Above,

    /// <summary>The first object is in a lower row than the second.</summary>
    Below,

    /// <summary>The first object is in a column left of the second's.</summary>
    LeftOf,

    /// <summary>The first object is in a column right of the second's.</summary>
    RightOf,
}

/// <summary>A fully resolved shape of a scene.</summary>
/// <param name="Shape">The shape.</param>
/// <param name="Colour">Its colour.</param>
/// <param name="Size">Its size.</param>
/// <param name="Position">The grid cell its bounding box is centred in.</param>
public sealed record SceneObject(Shape Shape, Colour Colour, ObjectSize Size, GridPosition Position);

/// <summary>A fully resolved scene: everything the renderer needs. Compared by value, objects in order.</summary>
/// <param name="Background">The background colour.</param>
/// <param name="Objects">One or two shapes, drawn in order, never overlapping.</param>
public sealed record SceneSpec(Background Background, IReadOnlyList<SceneObject> Objects)
{
    /// <inheritdoc/>
    public bool Equals(SceneSpec? other) =>
        other is not null && Background == other.Background && Objects.SequenceEqual(other.Objects);

    /// <inheritdoc/>
    public override int GetHashCode() => Objects.Aggregate(Background.GetHashCode(), HashCode.Combine);

    /// <inheritdoc/>
    public override string ToString() => $"{Background}: {string.Join(", ", Objects)}";
}

/// <summary>A shape as a caption states it: size and position may be left unsaid.</summary>
/// <param name="Shape">The shape.</param>
/// <param name="Colour">Its colour.</param>
/// <param name="Size">Its size, or null when the caption does not say.</param>
/// <param name="Position">Its cell, or null when the caption does not say (always null in two-object captions).</param>
public sealed record ObjectDescription(Shape Shape, Colour Colour, ObjectSize? Size = null, GridPosition? Position = null);

/// <summary>
/// What a caption says about a scene. Either one object with a position, or two objects and the
/// <see cref="Relation"/> of the first to the second (then neither has a position). Compared by value.
/// </summary>
/// <param name="Background">The background, or null when the caption does not say.</param>
/// <param name="Objects">One or two objects.</param>
/// <param name="Relation">For two objects, how the first stands to the second; null for one object.</param>
public sealed record SceneDescription(Background? Background, IReadOnlyList<ObjectDescription> Objects, Relation? Relation = null)
{
    /// <summary>A one-object description.</summary>
    public static SceneDescription OneObject(ObjectDescription target, Background? background = null) =>
        new(background, [target]);

    /// <summary>A two-object description: <paramref name="first"/> <paramref name="relation"/> <paramref name="second"/>.</summary>
    public static SceneDescription Pair(ObjectDescription first, Relation relation, ObjectDescription second, Background? background = null) =>
        new(background, [first, second], relation);

    /// <summary>
    /// The complete description of a resolved scene: every size and the background are stated. For two
    /// objects the relation is read from their cells (rows first: different rows give above/below).
    /// </summary>
    public static SceneDescription Of(SceneSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        if (spec.Objects.Count == 1)
        {
            var o = spec.Objects[0];
            return OneObject(new ObjectDescription(o.Shape, o.Colour, o.Size, o.Position), spec.Background);
        }

        if (spec.Objects.Count != 2 || spec.Objects[0].Position == spec.Objects[1].Position)
        {
            throw new ArgumentException("A scene has one object, or two in different cells.", nameof(spec));
        }

        var (a, b) = (spec.Objects[0], spec.Objects[1]);
        var (rowA, rowB) = (SceneGeometry.Row(a.Position), SceneGeometry.Row(b.Position));
        var relation = rowA != rowB
            ? (rowA < rowB ? Scenes.Relation.Above : Scenes.Relation.Below)
            : (SceneGeometry.Column(a.Position) < SceneGeometry.Column(b.Position) ? Scenes.Relation.LeftOf : Scenes.Relation.RightOf);
        return Pair(new ObjectDescription(a.Shape, a.Colour, a.Size), relation, new ObjectDescription(b.Shape, b.Colour, b.Size), spec.Background);
    }

    /// <summary>Throws unless this is a description the grammar can express.</summary>
    public void Validate()
    {
        var valid = Objects.Count switch
        {
            1 => Relation is null && Objects[0].Position is not null,
            2 => Relation is not null && Objects.All(o => o.Position is null),
            _ => false,
        };
        if (!valid)
        {
            throw new ArgumentException(
                "A scene description has one object with a position, or two objects without positions and a relation.");
        }
    }

    /// <inheritdoc/>
    public bool Equals(SceneDescription? other) =>
        other is not null && Background == other.Background && Relation == other.Relation && Objects.SequenceEqual(other.Objects);

    /// <inheritdoc/>
    public override int GetHashCode() => Objects.Aggregate(HashCode.Combine(Background, Relation), HashCode.Combine);

    /// <inheritdoc/>
    public override string ToString() =>
        $"{Background?.ToString() ?? "any"}: {string.Join($" {Relation} ", Objects)}";
}

/// <summary>One sample of the data set.</summary>
/// <param name="Description">What the caption says.</param>
/// <param name="Spec">The scene drawn for it: unstated attributes resolved at random.</param>
/// <param name="Caption">The caption text (lower-case words of <see cref="Captions.Vocabulary"/>, single spaces).</param>
public sealed record SceneSample(SceneDescription Description, SceneSpec Spec, string Caption);
