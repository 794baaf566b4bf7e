namespace Muse.Scenes;

/// <summary>A shape found in an image by <see cref="SceneChecker.Analyze"/>.</summary>
/// <param name="Colour">The palette colour its pixels unmix to.</param>
/// <param name="Shape">Classified from <paramref name="Fill"/>.</param>
/// <param name="Size">Classified from <paramref name="Extent"/>.</param>
/// <param name="Position">The cell of the centroid.</param>
/// <param name="X">Centroid x as a fraction of the side (0 left, 1 right).</param>
/// <param name="Y">Centroid y as a fraction of the side (0 top, 1 bottom).</param>
/// <param name="Extent">Larger side of the soft bounding box, as a fraction of the image side.</param>
/// <param name="Fill">Soft area over soft bounding-box area: about 1 for a square, π/4 for a circle, 1/2 for a triangle.</param>
/// <param name="Area">Pixels assigned to the shape (coverage at least 1/2).</param>
public sealed record DetectedObject(
    Colour Colour, Shape Shape, ObjectSize Size, GridPosition Position, double X, double Y, double Extent, double Fill, int Area);

/// <summary>What an image shows, as far as the checker can tell.</summary>
/// <param name="Background">The background colour nearest to the image border.</param>
/// <param name="Objects">The significant shapes, largest first.</param>
public sealed record SceneAnalysis(Background Background, IReadOnlyList<DetectedObject> Objects);

/// <summary>How one expected object fared.</summary>
/// <param name="Detected">The shape matched to it (same colour preferred, then the largest left), or null if none.</param>
/// <param name="Colour">Whether the matched shape has the expected colour.</param>
/// <param name="Shape">Whether it has the expected shape.</param>
/// <param name="Position">Whether it is in the expected cell; null when no position was expected.</param>
/// <param name="Size">Whether it has the expected size; null when no size was expected.</param>
public sealed record ObjectCheck(DetectedObject? Detected, bool Colour, bool Shape, bool? Position, bool? Size)
{
    /// <summary>Every checked attribute is right.</summary>
    public bool AllCorrect => Colour && Shape && Position != false && Size != false;
}

/// <summary>Prompt adherence of one image. Attributes the caption left unsaid are null (not checked).</summary>
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
/// 4-connected components; components smaller than about a third of a small triangle are noise. Shape comes
/// from the soft fill ratio (soft area over the product of the soft column and row extents), size from the
/// soft extent, position from the centroid's cell.
/// </remarks>
public static class SceneChecker
{
    /// <summary>Fill ratio below which a shape is a triangle (ideal 0.5; a circle is 0.785).</summary>
    public const double TriangleFillLimit = 0.64;

    /// <summary>Fill ratio below which a shape is a circle rather than a square (ideal 0.785 vs 1).</summary>
    public const double CircleFillLimit = 0.89;

    /// <summary>Extent (fraction of the side) from which a shape is large: the geometric mean of 0.16 and 0.28.</summary>
    public const double LargeExtentLimit = 0.21;

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
        var unmatched = analysis.Objects.ToList();
        var checks = new List<ObjectCheck>();
        foreach (var want in expected.Objects)
        {
            var found = unmatched.Find(d => d.Colour == want.Colour) ?? unmatched.FirstOrDefault();
            if (found is null)
            {
                checks.Add(new ObjectCheck(null, false, false, want.Position is null ? null : false, want.Size is null ? null : false));
                continue;
            }

            unmatched.Remove(found);
            checks.Add(new ObjectCheck(
                found,
                found.Colour == want.Colour,
                found.Shape == want.Shape,
                want.Position is { } position ? found.Position == position : null,
                want.Size is { } objectSize ? found.Size == objectSize : null));
        }

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
        var columnMax = new double[x1 - x0 + 1];
        var rowMax = new double[y1 - y0 + 1];
        double area = 0, sumX = 0, sumY = 0;
        for (var y = y0; y <= y1; y++)
        {
            for (var x = x0; x <= x1; x++)
            {
                // Own pixels, and background pixels leaning to this colour (its faint blurred rim).
                var p = (y * size) + x;
                if (component[p] != id && (component[p] != -1 || best[p] != colour))
                {
                    continue;
                }

                var soft = Math.Clamp((Coverage(rgb, p, backgroundRgb, Colours[colour]) - CoverageFloor) / (CoverageCeiling - CoverageFloor), 0, 1);
                area += soft;
                sumX += soft * (x + 0.5);
                sumY += soft * (y + 0.5);
                columnMax[x - x0] = Math.Max(columnMax[x - x0], soft);
                rowMax[y - y0] = Math.Max(rowMax[y - y0], soft);
            }
        }

        var (width, height) = (columnMax.Sum(), rowMax.Sum());
        var fill = area / (width * height);
        var extent = Math.Max(width, height) / size;
        var (cx, cy) = (sumX / area / size, sumY / area / size);
        var shape = fill < TriangleFillLimit ? Shape.Triangle : fill < CircleFillLimit ? Shape.Circle : Shape.Square;
        return new DetectedObject(
            Colours[colour], shape, extent >= LargeExtentLimit ? ObjectSize.Large : ObjectSize.Small,
            SceneGeometry.CellAt(cx, cy), cx, cy, extent, fill, members.Count);
    }

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
