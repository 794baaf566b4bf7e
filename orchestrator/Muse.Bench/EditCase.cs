using Muse.Decoding;
using Muse.Scenes;

namespace Muse.Bench;

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
    public byte[] MaskRgb(int size)
    {
        var mask = Mask(size);
        var rgb = new byte[mask.Length * 3];
        for (var p = 0; p < mask.Length; p++)
        {
            rgb.AsSpan(p * 3, 3).Fill(mask[p] ? (byte)255 : (byte)0);
        }

        return rgb;
    }
}
