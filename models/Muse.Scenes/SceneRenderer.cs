namespace Muse.Scenes;

/// <summary>Draws a <see cref="SceneSpec"/> as RGB pixels: flat colours, anti-aliased edges, deterministic.</summary>
public static class SceneRenderer
{
    /// <summary>Supersampling per axis: each pixel's coverage is measured on a 4×4 grid (17 levels).</summary>
    public const int Supersampling = 4;

    /// <summary>
    /// Renders <paramref name="spec"/> at <paramref name="size"/>×<paramref name="size"/> pixels (at least 8).
    /// </summary>
    /// <returns>A new array the caller owns: row-major, 3 bytes (R, G, B) per pixel, <c>size·size·3</c> long.
    /// Pixels fully inside a shape or the background have its exact palette value.</returns>
    public static byte[] Render(SceneSpec spec, int size)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentOutOfRangeException.ThrowIfLessThan(size, 8);
        var (br, bg, bb) = SceneGeometry.Rgb(spec.Background);
        var pixels = new double[size * size * 3]; // [y, x, channel]
        for (var i = 0; i < pixels.Length; i += 3)
        {
            (pixels[i], pixels[i + 1], pixels[i + 2]) = (br, bg, bb);
        }

        foreach (var o in spec.Objects)
        {
            Draw(pixels, size, o);
        }

        var rgb = new byte[pixels.Length];
        for (var i = 0; i < rgb.Length; i++)
        {
            rgb[i] = (byte)Math.Round(pixels[i], MidpointRounding.AwayFromZero);
        }

        return rgb;
    }

    private static void Draw(double[] pixels, int size, SceneObject o)
    {
        var (fx, fy) = SceneGeometry.CellCentre(o.Position);
        var (cx, cy, half) = (fx * size, fy * size, SceneGeometry.Extent(o.Size) * size / 2);
        var (r, g, b) = SceneGeometry.Rgb(o.Colour);
        int Lo(double v) => Math.Max(0, (int)Math.Floor(v - half));
        int Hi(double v) => Math.Min(size - 1, (int)Math.Ceiling(v + half));
        for (var y = Lo(cy); y <= Hi(cy); y++)
        {
            for (var x = Lo(cx); x <= Hi(cx); x++)
            {
                var inside = 0;
                for (var sy = 0; sy < Supersampling; sy++)
                {
                    for (var sx = 0; sx < Supersampling; sx++)
                    {
                        var px = x + ((sx + 0.5) / Supersampling) - cx;
                        var py = y + ((sy + 0.5) / Supersampling) - cy;
                        inside += Contains(o.Shape, px, py, half) ? 1 : 0;
                    }
                }

                if (inside == 0)
                {
                    continue;
                }

                // Coverage blend; full coverage gives the palette value exactly (weight 1, then 0 on the old value).
                var coverage = inside / (double)(Supersampling * Supersampling);
                var i = ((y * size) + x) * 3;
                pixels[i] += (r - pixels[i]) * coverage;
                pixels[i + 1] += (g - pixels[i + 1]) * coverage;
                pixels[i + 2] += (b - pixels[i + 2]) * coverage;
            }
        }
    }

    // (x, y) relative to the bounding box centre; y grows downward, so the triangle's apex is at y = −half.
    private static bool Contains(Shape shape, double x, double y, double half) => shape switch
    {
        Shape.Square => Math.Abs(x) <= half && Math.Abs(y) <= half,
        Shape.Circle => (x * x) + (y * y) <= half * half,
        Shape.Triangle => y <= half && Math.Abs(x) <= (y + half) / 2,
        _ => throw new ArgumentOutOfRangeException(nameof(shape)),
    };
}
