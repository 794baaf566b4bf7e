using System.Globalization;

namespace Muse.Scenes;

/// <summary>A shape found in an image by <see cref="SceneChecker.Analyze"/>.</summary>
/// <param name="Colour">The palette colour its pixels unmix to.</param>
/// <param name="Shape">Triangle by <paramref name="Skewness"/>, else circle or square by <paramref name="Squareness"/>.</param>
/// <param name="Size">Classified from <paramref name="Extent"/> (see <see cref="SceneChecker.SizeOf"/>); null when the
/// extent is that of neither size the renderer draws.</param>
/// <param name="Position">The cell of the centroid.</param>
/// <param name="X">Centroid x as a fraction of the side (0 left, 1 right).</param>
/// <param name="Y">Centroid y as a fraction of the side (0 top, 1 bottom).</param>
/// <param name="Extent">Larger side of the soft bounding box, as a fraction of the image side.</param>
/// <param name="Skewness">Skewness of the mask's rows: about −0.57 for a triangle pointing up (its mass sits low), 0 for
/// a circle or square. Blur keeps it (a symmetric kernel adds no third moment).</param>
/// <param name="Squareness">Mean soft extent along the two diagonals over the soft extent along the axes: 1 for an
/// axis-aligned square (its diagonals are √2 longer than its side), 1/√2 for a circle.</param>
/// <param name="Area">Pixels assigned to the shape (coverage at least 1/2).</param>
public sealed record DetectedObject(
    Colour Colour, Shape Shape, ObjectSize? Size, GridPosition Position, double X, double Y, double Extent, double Skewness, double Squareness, int Area)
{
    /// <summary>What was found, in words, with the measures shape and size are read from.</summary>
    public string Summary() => string.Create(
        CultureInfo.InvariantCulture,
        $"{Colour} {Shape} {Size?.ToString() ?? "neither-size"} {Position} (skew {Skewness:F2}, square {Squareness:F2}, extent {Extent:F2}, area {Area})");
}

/// <summary>What an image shows, as far as the checker can tell.</summary>
/// <param name="Background">The background colour nearest to the image border.</param>
/// <param name="Objects">The significant shapes, largest first.</param>
public sealed record SceneAnalysis(Background Background, IReadOnlyList<DetectedObject> Objects);

/// <summary>How one expected object fared.</summary>
/// <param name="Detected">The shape matched to it (same colour preferred, then the largest left), or null if none.</param>
/// <param name="Colour">Whether the matched shape has the expected colour.</param>
/// <param name="Shape">Whether it has the expected shape.</param>
/// <param name="Position">Whether it is in the expected cell; null when no position was expected.</param>
/// <param name="Size">Whether its extent is that of the stated size, or of either size when the caption states none
/// (the renderer draws only these two, so a shape of neither is not what any caption describes).</param>
public sealed record ObjectCheck(DetectedObject? Detected, bool Colour, bool Shape, bool? Position, bool Size)
{
    /// <summary>Every checked attribute is right.</summary>
    public bool AllCorrect => Colour && Shape && Position != false && Size;
}

/// <summary>Prompt adherence of one image. Attributes the caption left unsaid are null (not checked); sizes are
/// always checked (see <see cref="ObjectCheck.Size"/>).</summary>
/// <param name="Background">Whether the background is the expected one; null when none was expected.</param>
/// <param name="Objects">One check per expected object, in caption order.</param>
/// <param name="Relation">Whether the relation of a pair holds between the matched shapes; null for one object.</param>
/// <param name="ObjectCount">Whether the image has exactly as many significant shapes as expected.</param>
/// <param name="Analysis">What was detected.</param>
public sealed record SceneCheckResult(
    bool? Background, IReadOnlyList<ObjectCheck> Objects, bool? Relation, bool ObjectCount, SceneAnalysis Analysis)
{
    /// <summary>Every checked attribute of the scene and of each object is right.</summary>
    public bool AllCorrect =>
        Background != false && Relation != false && ObjectCount && Objects.All(o => o.AllCorrect);

    /// <summary>What is wrong, in words: "count", "relation", "background", and "object(…)" naming the wrong
    /// attributes of each expected object, in caption order; empty when <see cref="AllCorrect"/>.</summary>
    public IReadOnlyList<string> Faults()
    {
        string?[] scene = [ObjectCount ? null : "count", Relation == false ? "relation" : null, Background == false ? "background" : null];
        var objects = Objects.Where(o => !o.AllCorrect).Select(o =>
        {
            string?[] attributes = [o.Colour ? null : "colour", o.Shape ? null : "shape", o.Position == false ? "position" : null, o.Size ? null : "size"];
            return $"object({string.Join(' ', attributes.OfType<string>())})";
        });
        return [.. scene.OfType<string>(), .. objects];
    }
}

/// <summary>
/// Measures whether an image shows what its caption says. Meant for renders and for model outputs, so it
/// tolerates anti-aliasing, blur, noise and small colour shifts (VQGAN reconstructions).
/// </summary>
/// <remarks>
/// The background is the palette background nearest the border pixels. Every pixel is then unmixed: it is
/// modelled as background + coverage·(colour − background) for each of the six colours, and the colour with the
/// smallest residual wins. Unmixing, unlike nearest-palette labelling, keeps an edge between red and white red
/// (not orange) and makes coverage a soft mask that blur preserves. Pixels with coverage ≥ 1/2 are grouped into
/// 4-connected components; components smaller than about a third of a small triangle are noise. Around each
/// component a soft mask is read off the coverage; shape comes from its vertical skewness (triangles) and its
/// diagonal-to-axis extent ratio (squares vs circles), size from its extent (none when it is neither size's),
/// position from its centroid's cell.
/// Both shape features are ratios of soft sums, so they hold at any resolution and under mild blur.
/// </remarks>
public static class SceneChecker
{
    /// <summary>Vertical skewness below which a shape is a triangle: −0.57 for an upward triangle, 0 for the others.</summary>
    public const double TriangleSkewnessLimit = -0.2;

    /// <summary>
    /// Squareness below which a shape is a circle: 1/√2 for a circle, 1 for a square. Over renders at 64 and 128 px
    /// with up to three blur passes, circles measure at most 0.72 and squares at least 0.85 (blur rounds corners);
    /// the limit sits in the middle of that gap, so a slightly uneven circle edge (0.75–0.78, as a decoder leaves
    /// it) still reads as a circle.
    /// </summary>
    public const double CircleSquarenessLimit = 0.78;

    /// <summary>Extent (fraction of the side) from which a shape is large: the geometric mean of 0.16 and 0.28.</summary>
    public const double LargeExtentLimit = 0.21;

    /// <summary>
    /// Extent below which a shape is too small to be small: 0.10. The renderer draws exactly two extents, 0.16 and
    /// 0.28. Renders at 64 and 128 px with up to three blur passes measure small shapes at 0.123–0.162 and large ones
    /// at 0.245–0.282: blur only shrinks the soft extent, most for triangles, whose thin apex and corners fall under
    /// the coverage floor. This limit and <see cref="LargeExtentMaximum"/> sit a factor 1.25 beyond those extremes,
    /// so a size is refused only when it is clearly neither (below 0.095 a triangle is dropped as noise anyway).
    /// </summary>
    public const double SmallExtentMinimum = 0.10;

    /// <summary>Extent above which a shape is too big to be large: 0.35, a factor 1.25 above the largest render
    /// (see <see cref="SmallExtentMinimum"/>).</summary>
    public const double LargeExtentMaximum = 0.35;

    // Soft-mask ramp: coverage below 0.15 is noise, above 0.85 solid; linear between, so the midpoint stays put.
    private const double CoverageFloor = 0.15;
    private const double CoverageCeiling = 0.85;

    // Pixels around a component's bounding box that may hold its blurred edge.
    private const int Margin = 2;

    private static readonly Colour[] Colours = Enum.GetValues<Colour>();

    /// <summary>Checks an RGB image (row-major, 3 bytes per pixel) of <paramref name="size"/>² pixels against
    /// what <paramref name="expected"/> says.</summary>
    public static SceneCheckResult Check(ReadOnlySpan<byte> rgb, int size, SceneDescription expected)
    {
        ArgumentNullException.ThrowIfNull(expected);
        expected.Validate();
        var analysis = Analyze(rgb, size);

        // Match by colour first, so one miscoloured shape does not take another object's match; then the
        // largest shapes left go to the objects still unmatched (their colour is wrong, the rest still checked).
        var unmatched = analysis.Objects.ToList();
        var matches = new DetectedObject?[expected.Objects.Count];
        for (var pass = 0; pass < 2; pass++)
        {
            for (var k = 0; k < matches.Length; k++)
            {
                var colour = expected.Objects[k].Colour;
                if (matches[k] is null && unmatched.Find(d => pass == 1 || d.Colour == colour) is { } found)
                {
                    matches[k] = found;
                    unmatched.Remove(found);
                }
            }
        }

        var checks = expected.Objects.Zip(matches, (want, found) => new ObjectCheck(
            found,
            found?.Colour == want.Colour,
            found?.Shape == want.Shape,
            want.Position is { } position ? found?.Position == position : null,
            found?.Size is { } foundSize && (want.Size ?? foundSize) == foundSize)).ToList();

        bool? relation = expected.Relation is { } r
            ? checks[0].Detected is { } a && checks[1].Detected is { } b && Holds(r, a, b)
            : null;
        return new SceneCheckResult(
            expected.Background is { } background ? analysis.Background == background : null,
            checks,
            relation,
            analysis.Objects.Count == expected.Objects.Count,
            analysis);
    }

    /// <summary>Finds the background and the significant shapes of an RGB image (row-major, 3 bytes per pixel).</summary>
    public static SceneAnalysis Analyze(ReadOnlySpan<byte> rgb, int size)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(size, 8);
        if (rgb.Length != size * size * 3)
        {
            throw new ArgumentException($"Expected {size}×{size}×3 = {size * size * 3} bytes, got {rgb.Length}.", nameof(rgb));
        }

        var (background, backgroundRgb) = FindBackground(rgb, size);
        var pixelCount = size * size;
        var best = new int[pixelCount];      // [y·size + x] colour index with the smallest unmixing residual
        var component = new int[pixelCount]; // [y·size + x] component id, or −1 for background
        for (var i = 0; i < pixelCount; i++)
        {
            best[i] = BestColour(rgb, i, backgroundRgb, out var coverage);
            component[i] = coverage >= 0.5 ? int.MaxValue : -1; // foreground, not yet assigned
        }

        // A third of a small triangle's area: smaller blobs are noise or stray edge pixels.
        var minArea = 0.35 * 0.5 * SceneGeometry.SmallExtent * SceneGeometry.SmallExtent * pixelCount;
        var objects = new List<DetectedObject>();
        var stack = new Stack<int>();
        var members = new List<int>();
        for (int seedPixel = 0, id = 0; seedPixel < pixelCount; seedPixel++)
        {
            if (component[seedPixel] != int.MaxValue)
            {
                continue;
            }

            // Flood fill the 4-connected pixels of the same colour.
            members.Clear();
            component[seedPixel] = id;
            stack.Push(seedPixel);
            while (stack.TryPop(out var p))
            {
                members.Add(p);
                var (x, y) = (p % size, p / size);
                foreach (var q in (ReadOnlySpan<int>)[x > 0 ? p - 1 : -1, x < size - 1 ? p + 1 : -1, y > 0 ? p - size : -1, y < size - 1 ? p + size : -1])
                {
                    if (q >= 0 && component[q] == int.MaxValue && best[q] == best[p])
                    {
                        component[q] = id;
                        stack.Push(q);
                    }
                }
            }

            if (members.Count >= minArea)
            {
                objects.Add(Describe(rgb, size, backgroundRgb, best, component, id, members));
            }

            id++;
        }

        return new SceneAnalysis(background, [.. objects.OrderByDescending(o => o.Area)]);
    }

    private static DetectedObject Describe(
        ReadOnlySpan<byte> rgb, int size, (double R, double G, double B) backgroundRgb, int[] best, int[] component, int id, List<int> members)
    {
        var colour = best[members[0]];
        var (x0, x1) = (members.Min(p => p % size) - Margin, members.Max(p => p % size) + Margin);
        var (y0, y1) = (members.Min(p => p / size) - Margin, members.Max(p => p / size) + Margin);
        (x0, y0, x1, y1) = (Math.Max(x0, 0), Math.Max(y0, 0), Math.Min(x1, size - 1), Math.Min(y1, size - 1));
        var (w, h) = (x1 - x0 + 1, y1 - y0 + 1);
        var soft = new double[w * h]; // [y − y0, x − x0] soft mask
        for (var y = y0; y <= y1; y++)
        {
            for (var x = x0; x <= x1; x++)
            {
                // Own pixels, and background pixels leaning to this colour (its faint blurred rim).
                var p = (y * size) + x;
                if (component[p] == id || (component[p] == -1 && best[p] == colour))
                {
                    var coverage = Coverage(rgb, p, backgroundRgb, Colours[colour]);
                    soft[((y - y0) * w) + x - x0] = Math.Clamp((coverage - CoverageFloor) / (CoverageCeiling - CoverageFloor), 0, 1);
                }
            }
        }

        // Soft extents: the sum over lines of the line's largest coverage, along columns, rows and both diagonals.
        var (columnMax, rowMax, diagonalMax, antiDiagonalMax) = (new double[w], new double[h], new double[w + h], new double[w + h]);
        double area = 0, sumX = 0, sumY = 0;
        for (var i = 0; i < soft.Length; i++)
        {
            var (u, v, a) = (i % w, i / w, soft[i]); // u, v: position in the window
            area += a;
            sumX += a * (u + 0.5);
            sumY += a * (v + 0.5);
            columnMax[u] = Math.Max(columnMax[u], a);
            rowMax[v] = Math.Max(rowMax[v], a);
            diagonalMax[u + v] = Math.Max(diagonalMax[u + v], a);
            antiDiagonalMax[u - v + h] = Math.Max(antiDiagonalMax[u - v + h], a);
        }

        var (width, height) = (columnMax.Sum(), rowMax.Sum());
        var (cx, cy) = (sumX / area, sumY / area);
        double m2 = 0, m3 = 0;
        for (var i = 0; i < soft.Length; i++)
        {
            var dy = (i / w) + 0.5 - cy;
            m2 += soft[i] * dy * dy;
            m3 += soft[i] * dy * dy * dy;
        }

        var skewness = m3 / area / Math.Pow(m2 / area, 1.5);
        var squareness = (diagonalMax.Sum() + antiDiagonalMax.Sum()) / 2 / (width + height);
        var shape = skewness < TriangleSkewnessLimit ? Shape.Triangle
            : squareness < CircleSquarenessLimit ? Shape.Circle
            : Shape.Square;
        var extent = Math.Max(width, height) / size;
        var (centreX, centreY) = ((cx + x0) / size, (cy + y0) / size);
        return new DetectedObject(
            Colours[colour], shape, SizeOf(extent),
            SceneGeometry.CellAt(centreX, centreY), centreX, centreY, extent, skewness, squareness, members.Count);
    }

    /// <summary>The size a shape of <paramref name="extent"/> (larger side as a fraction of the image side) is drawn
    /// at, or null when it is outside both sizes' ranges (<see cref="SmallExtentMinimum"/> to
    /// <see cref="LargeExtentMaximum"/>, split at <see cref="LargeExtentLimit"/>).</summary>
    public static ObjectSize? SizeOf(double extent) => extent switch
    {
        < SmallExtentMinimum or > LargeExtentMaximum => null,
        < LargeExtentLimit => ObjectSize.Small,
        _ => ObjectSize.Large,
    };

    // A pair's cells differ by at least one row or column (1/3 of the side); half of that separates noise from order.
    private static bool Holds(Relation relation, DetectedObject a, DetectedObject b) => relation switch
    {
        Relation.Above => b.Y - a.Y > 1.0 / 6,
        Relation.Below => a.Y - b.Y > 1.0 / 6,
        Relation.LeftOf => b.X - a.X > 1.0 / 6,
        Relation.RightOf => a.X - b.X > 1.0 / 6,
        _ => throw new ArgumentOutOfRangeException(nameof(relation)),
    };

    private static (Background Background, (double R, double G, double B) Rgb) FindBackground(ReadOnlySpan<byte> rgb, int size)
    {
        var backgrounds = Enum.GetValues<Background>();
        var votes = new int[backgrounds.Length];
        var sums = new (double R, double G, double B)[backgrounds.Length];
        for (var p = 0; p < size * size; p++)
        {
            var (x, y) = (p % size, p / size);
            if (x != 0 && y != 0 && x != size - 1 && y != size - 1)
            {
                continue;
            }

            var nearest = 0;
            for (var k = 1; k < backgrounds.Length; k++)
            {
                if (Distance(rgb, p, SceneGeometry.Rgb(backgrounds[k])) < Distance(rgb, p, SceneGeometry.Rgb(backgrounds[nearest])))
                {
                    nearest = k;
                }
            }

            votes[nearest]++;
            sums[nearest] = (sums[nearest].R + rgb[3 * p], sums[nearest].G + rgb[(3 * p) + 1], sums[nearest].B + rgb[(3 * p) + 2]);
        }

        // The measured border colour, not the palette value, is the reference: reconstructions shift colours.
        var winner = Array.IndexOf(votes, votes.Max());
        var n = (double)votes[winner];
        return (backgrounds[winner], (sums[winner].R / n, sums[winner].G / n, sums[winner].B / n));
    }

    private static int BestColour(ReadOnlySpan<byte> rgb, int p, (double R, double G, double B) backgroundRgb, out double coverage)
    {
        var (best, bestResidual) = (0, double.MaxValue);
        coverage = 0;
        for (var c = 0; c < Colours.Length; c++)
        {
            var a = Coverage(rgb, p, backgroundRgb, Colours[c], out var residual);
            if (residual < bestResidual)
            {
                (best, bestResidual, coverage) = (c, residual, a);
            }
        }

        return best;
    }

    private static double Coverage(ReadOnlySpan<byte> rgb, int p, (double R, double G, double B) backgroundRgb, Colour colour) =>
        Coverage(rgb, p, backgroundRgb, colour, out _);

    // Least-squares a in pixel ≈ background + a·(colour − background), clamped to [0, 1].
    private static double Coverage(ReadOnlySpan<byte> rgb, int p, (double R, double G, double B) bg, Colour colour, out double residual)
    {
        var (r, g, b) = SceneGeometry.Rgb(colour);
        var (vr, vg, vb) = (r - bg.R, g - bg.G, b - bg.B);
        var (dr, dg, db) = (rgb[3 * p] - bg.R, rgb[(3 * p) + 1] - bg.G, rgb[(3 * p) + 2] - bg.B);
        var a = Math.Clamp(((dr * vr) + (dg * vg) + (db * vb)) / ((vr * vr) + (vg * vg) + (vb * vb)), 0, 1);
        var (er, eg, eb) = (dr - (a * vr), dg - (a * vg), db - (a * vb));
        residual = (er * er) + (eg * eg) + (eb * eb);
        return a;
    }

    private static double Distance(ReadOnlySpan<byte> rgb, int p, (byte R, byte G, byte B) colour)
    {
        var (dr, dg, db) = (rgb[3 * p] - colour.R, rgb[(3 * p) + 1] - colour.G, rgb[(3 * p) + 2] - colour.B);
        return (dr * dr) + (dg * dg) + (db * db);
    }
}
