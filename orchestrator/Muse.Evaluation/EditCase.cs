using Muse.Decoding;
using Muse.Scenes;

namespace Muse.Evaluation;

/// <summary>
/// One inpainting case of the editing evaluation: a held-out scene in which one object gets a new colour and a new
/// shape (same size and place), the prompt describing the edited scene, and a mask over that object only. The
/// scene checker then tells whether the new object appeared and whether the rest of the scene is still right.
/// </summary>
/// <param name="Original">The held-out scene as rendered before the edit.</param>
/// <param name="Edited">The scene the prompt asks for.</param>
/// <param name="Prompt">A caption of <paramref name="Edited"/> stating every attribute.</param>
/// <param name="ObjectIndex">The object that changes.</param>
public sealed record EditCase(SceneSpec Original, SceneSpec Edited, string Prompt, int ObjectIndex)
{
    // Mask margin around the object's bounding box, as a fraction of the side (anti-aliased edges included).
    private const double MaskMargin = 0.03;

    /// <summary>
    /// <paramref name="count"/> cases from held-out scenes; every choice (which object, the new colour, the new shape,
    /// the caption's paraphrases) is a pure function of <paramref name="seed"/>.
    /// </summary>
    public static IReadOnlyList<EditCase> HeldOut(int count, ulong seed)
    {
        var samples = Dataset.HeldOutSamples(count, seed);
        var cases = new List<EditCase>(count);
        for (var i = 0; i < samples.Count; i++)
        {
            var spec = samples[i].Spec;
            ulong Draw(ulong purpose, int choices) => CounterRng.Hash(seed, (ulong)i, purpose, 0, (ulong)RngPurpose.Data) % (ulong)choices;
            var index = (int)Draw(1, spec.Objects.Count);
            var target = spec.Objects[index];

            // The new colour differs from every colour in the scene, so the checker cannot confuse the objects.
            var colours = Enum.GetValues<Colour>().Where(c => spec.Objects.All(o => o.Colour != c)).ToArray();
            var shapes = Enum.GetValues<Shape>().Where(s => s != target.Shape).ToArray();
            var changed = target with { Colour = colours[Draw(2, colours.Length)], Shape = shapes[Draw(3, shapes.Length)] };
            var edited = spec with { Objects = [.. spec.Objects.Select((o, j) => j == index ? changed : o)] };
            cases.Add(new EditCase(spec, edited, Captions.Describe(edited, seed + (ulong)i), index));
        }

        return cases;
    }

    /// <summary>The inpainting mask at <paramref name="size"/>² pixels: true over the changed object's bounding box plus a margin.</summary>
    public bool[] Mask(int size)
    {
        var target = Original.Objects[ObjectIndex];
        var (cx, cy) = SceneGeometry.CellCentre(target.Position);
        var half = (SceneGeometry.Extent(target.Size) / 2) + MaskMargin;
        var mask = new bool[size * size];
        for (var y = 0; y < size; y++)
        {
            for (var x = 0; x < size; x++)
            {
                var (u, v) = ((x + 0.5) / size, (y + 0.5) / size);
                mask[(y * size) + x] = Math.Abs(u - cx) <= half && Math.Abs(v - cy) <= half;
            }
        }

        return mask;
    }

    /// <summary>The mask as RGB pixels: white = regenerate, black = keep (the Edit API's mask image).</summary>
    public byte[] MaskRgb(int size) => ToRgb(Mask(size));

    /// <summary>A pixel mask as RGB: white where set, black elsewhere.</summary>
    public static byte[] ToRgb(bool[] mask)
    {
        ArgumentNullException.ThrowIfNull(mask);
        var rgb = new byte[mask.Length * 3];
        for (var p = 0; p < mask.Length; p++)
        {
            rgb.AsSpan(p * 3, 3).Fill(mask[p] ? (byte)255 : (byte)0);
        }

        return rgb;
    }
}

/// <summary>The side of the image an <see cref="OutpaintCase"/> crops away and outpaints back.</summary>
public enum OutpaintSide
{
    /// <summary>The left third.</summary>
    Left,

    /// <summary>The right third.</summary>
    Right,

    /// <summary>The top third.</summary>
    Top,

    /// <summary>The bottom third.</summary>
    Bottom,
}

/// <summary>
/// One outpainting case: a held-out two-object scene with one object alone in an outer third of the grid; that third
/// is cropped away, and outpainting under the scene's caption must bring the object back in its place.
/// </summary>
/// <param name="Scene">The whole scene (what the prompt describes).</param>
/// <param name="Prompt">A caption of <paramref name="Scene"/> stating every attribute.</param>
/// <param name="Side">The third that is cropped away.</param>
public sealed record OutpaintCase(SceneSpec Scene, string Prompt, OutpaintSide Side)
{
    /// <summary>
    /// <paramref name="count"/> cases: the held-out samples from <paramref name="seed"/> on that qualify, in order (a pure
    /// function of the seed).
    /// </summary>
    public static IReadOnlyList<OutpaintCase> HeldOut(int count, ulong seed)
    {
        var cases = new List<OutpaintCase>(count);
        for (var i = 0L; cases.Count < count; i++)
        {
            var sample = SceneSampler.SampleHeldOut(seed, i);
            if (sample.Spec.Objects.Count == 2 && LoneSide(sample.Spec) is { } side)
            {
                cases.Add(new OutpaintCase(sample.Spec, Captions.Describe(sample.Spec, seed + (ulong)i), side));
            }
        }

        return cases;
    }

    /// <summary>The kept part of the scene rendered at <paramref name="size"/>: RGB pixels, width and height.</summary>
    public (byte[] Rgb, int Width, int Height) Cropped(int size)
    {
        var full = SceneRenderer.Render(Scene, size);
        var margin = Margin(size);
        var (x0, y0) = (Side == OutpaintSide.Left ? margin : 0, Side == OutpaintSide.Top ? margin : 0);
        var (width, height) = Side is OutpaintSide.Left or OutpaintSide.Right ? (size - margin, size) : (size, size - margin);
        var rgb = new byte[width * height * 3];
        for (var y = 0; y < height; y++)
        {
            full.AsSpan((((y + y0) * size) + x0) * 3, width * 3).CopyTo(rgb.AsSpan(y * width * 3));
        }

        return (rgb, width, height);
    }

    /// <summary>The crop where it sat in the <paramref name="size"/>² scene, the cropped third filled with <paramref name="fill"/>.</summary>
    public byte[] CroppedOnCanvas(int size, (byte R, byte G, byte B) fill)
    {
        var canvas = SceneRenderer.Render(Scene, size);
        var cropped = NewArea(size);
        for (var p = 0; p < cropped.Length; p++)
        {
            if (cropped[p])
            {
                (canvas[p * 3], canvas[(p * 3) + 1], canvas[(p * 3) + 2]) = fill;
            }
        }

        return canvas;
    }

    /// <summary>The area to outpaint at <paramref name="size"/>² pixels: true in the cropped third.</summary>
    public bool[] NewArea(int size)
    {
        var margin = Margin(size);
        var area = new bool[size * size];
        for (var p = 0; p < area.Length; p++)
        {
            var (x, y) = (p % size, p / size);
            area[p] = Side switch
            {
                OutpaintSide.Left => x < margin,
                OutpaintSide.Right => x >= size - margin,
                OutpaintSide.Top => y < margin,
                _ => y >= size - margin,
            };
        }

        return area;
    }

    /// <summary>Pixels cropped away at <paramref name="size"/>: the outer third.</summary>
    public static int Margin(int size) => size - (int)Math.Round(size * 2 / 3.0);

    // The outer third holding exactly one of the two objects (columns before rows), or null.
    private static OutpaintSide? LoneSide(SceneSpec spec)
    {
        var (a, b) = (spec.Objects[0].Position, spec.Objects[1].Position);
        bool Lone(Func<GridPosition, int> axis, int line) => (axis(a) == line) != (axis(b) == line);
        return Lone(SceneGeometry.Column, 2) ? OutpaintSide.Right
            : Lone(SceneGeometry.Column, 0) ? OutpaintSide.Left
            : Lone(SceneGeometry.Row, 2) ? OutpaintSide.Bottom
            : Lone(SceneGeometry.Row, 0) ? OutpaintSide.Top
            : null;
    }
}
