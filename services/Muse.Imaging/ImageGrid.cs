using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using SixLabors.ImageSharp.Processing;

namespace Muse.Imaging;

/// <summary>Images laid out on one sheet: the CLI's <c>--grid</c> and the showcase pictures.</summary>
public static class ImageGrid
{
    /// <summary>
    /// Lays <paramref name="cells"/> out in order, in rows of <paramref name="columns"/>, each in a slot of the first
    /// cell's size with <paramref name="gap"/> pixels between slots and around them, on <paramref name="background"/>.
    /// A null cell leaves its slot empty. The caller owns the sheet; the cells stay the caller's.
    /// </summary>
    public static Image<Rgb24> Compose(IReadOnlyList<Image<Rgb24>?> cells, int columns, int gap, Rgb24 background)
    {
        ArgumentNullException.ThrowIfNull(cells);
        ArgumentOutOfRangeException.ThrowIfLessThan(columns, 1);
        var first = cells.FirstOrDefault(c => c is not null) ?? throw new ArgumentException("No image to lay out.", nameof(cells));
        var (width, height) = (first.Width, first.Height);
        var rows = (cells.Count + columns - 1) / columns;
        var sheet = new Image<Rgb24>((columns * (width + gap)) + gap, (rows * (height + gap)) + gap, background);
        for (var k = 0; k < cells.Count; k++)
        {
            if (cells[k] is { } cell)
            {
                var at = new Point(gap + (k % columns * (width + gap)), gap + (k / columns * (height + gap)));
                sheet.Mutate(c => c.DrawImage(cell, at, 1f));
            }
        }

        return sheet;
    }
}
