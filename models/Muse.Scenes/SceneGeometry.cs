namespace Muse.Scenes;

/// <summary>
/// Palette and layout shared by the renderer and the checker. Lengths are fractions of the image side,
/// so a scene looks the same at every resolution.
/// </summary>
public static class SceneGeometry
{
    /// <summary>Side of a large shape's bounding box: 0.28. Two large shapes in neighbouring cells (centres 1/3
    /// apart) keep a gap of 0.053 of the side — over 3 px at 64 px.</summary>
    public const double LargeExtent = 0.28;

    /// <summary>Side of a small shape's bounding box: 0.16, so sizes differ by a factor 1.75 in extent.</summary>
    public const double SmallExtent = 0.16;

    /// <summary>The RGB value of a shape colour.</summary>
    public static (byte R, byte G, byte B) Rgb(Colour colour) => colour switch
    {
        Colour.Red => (220, 40, 40),
        Colour.Green => (40, 180, 60),
        Colour.Blue => (40, 80, 220),
        Colour.Yellow => (240, 210, 40),
        Colour.Purple => (150, 60, 200),
        Colour.Orange => (245, 140, 30),
        _ => throw new ArgumentOutOfRangeException(nameof(colour)),
    };

    /// <summary>The RGB value of a background.</summary>
    public static (byte R, byte G, byte B) Rgb(Background background) => background switch
    {
        Background.White => (255, 255, 255),
        Background.Black => (0, 0, 0),
        Background.Gray => (128, 128, 128),
        _ => throw new ArgumentOutOfRangeException(nameof(background)),
    };

    /// <summary>The side of a shape's bounding box as a fraction of the image side.</summary>
    public static double Extent(ObjectSize size) => size == ObjectSize.Large ? LargeExtent : SmallExtent;

    /// <summary>Grid row, 0 (top) to 2 (bottom).</summary>
    public static int Row(GridPosition position) => (int)position / 3;

    /// <summary>Grid column, 0 (left) to 2 (right).</summary>
    public static int Column(GridPosition position) => (int)position % 3;

    /// <summary>The cell at a row and column (each 0 to 2).</summary>
    public static GridPosition Cell(int row, int column) => (GridPosition)((row * 3) + column);

    /// <summary>Centre of a cell as fractions of the side: 1/6, 1/2 or 5/6 on each axis (y grows downward).</summary>
    public static (double X, double Y) CellCentre(GridPosition position) =>
        ((Column(position) + 0.5) / 3.0, (Row(position) + 0.5) / 3.0);

    /// <summary>The cell containing a point given as fractions of the side (clamped into the image).</summary>
    public static GridPosition CellAt(double x, double y) =>
        Cell(Math.Clamp((int)(y * 3), 0, 2), Math.Clamp((int)(x * 3), 0, 2));
}
