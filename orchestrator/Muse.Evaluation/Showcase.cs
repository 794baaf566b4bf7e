using System.Globalization;
using System.Text;
using Muse.Imaging;
using Muse.InProcess;
using Muse.Protos.V1;
using Muse.Scenes;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace Muse.Evaluation;

/// <summary>What <see cref="Showcase.RunAsync"/> makes.</summary>
public sealed record ShowcaseOptions
{
    /// <summary>Folder the PNGs and the Markdown go to.</summary>
    public required string Out { get; init; }

    /// <summary>Held-out prompts in the sample grid. Default 8 (two rows of four).</summary>
    public int Samples { get; init; } = 8;

    /// <summary>Pipeline; default the catalog's default.</summary>
    public string? Pipeline { get; init; }

    /// <summary>Model repository; default located as the stages do.</summary>
    public string? Repository { get; init; }

    /// <summary>Seed of the prompts, scenes and decoding. Default 7.</summary>
    public ulong Seed { get; init; } = 7;
}

/// <summary>The files <see cref="Showcase.RunAsync"/> wrote, and its Markdown (also written as showcase.md).</summary>
public sealed record ShowcaseResult(string SamplesPng, string EditsPng, string Markdown);

/// <summary>
/// The README's pictures, made from the shipped models with the pipeline's defaults: a grid of images for held-out
/// prompts (<c>samples.png</c>) and before/after rows of each edit mode (<c>edits.png</c>), with a Markdown table of
/// the prompts and the scene checker's verdict on each picture (<c>showcase.md</c>).
/// </summary>
public static class Showcase
{
    private const int Gap = 4;
    private static readonly Rgb24 Paper = new(32, 32, 32);

    /// <summary>Generates, edits and writes the files.</summary>
    public static async Task<ShowcaseResult> RunAsync(ShowcaseOptions options, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(options);
        Directory.CreateDirectory(options.Out);
        using var pipeline = await LocalPipeline.StartAsync(options.Repository, options.Pipeline, ct);
        var size = pipeline.Size;
        var markdown = new StringBuilder();
        string Verdict(byte[] rgb, SceneDescription intended) => SceneChecker.Check(rgb, size, intended).AllCorrect ? "✓" : "✗";

        // The sample grid: held-out prompts (captions never trained on), seed = options.Seed + i.
        var prompts = Dataset.HeldOutSamples(options.Samples, options.Seed);
        var samples = new List<byte[]?>();
        markdown.AppendLine(CultureInfo.InvariantCulture, $"Pipeline `{pipeline.Name}`, defaults of pipelines.json, held-out prompts; ✓ = the scene checker finds every attribute.")
            .AppendLine().AppendLine("| # | prompt | seed | checker |").AppendLine("|---|---|---|---|");
        for (var i = 0; i < prompts.Count; i++)
        {
            var seed = options.Seed + (ulong)i;
            var rgb = await pipeline.GenerateAsync(new GenerateRequest { Prompt = prompts[i].Caption, Seed = seed }, ct);
            samples.Add(rgb);
            markdown.AppendLine(CultureInfo.InvariantCulture, $"| {i + 1} | {prompts[i].Caption} | {seed} | {Verdict(rgb, prompts[i].Description)} |");
        }

        var samplesPng = Path.Combine(options.Out, "samples.png");
        Save(Sheet(samples, size, columns: 4), samplesPng);

        // Before/after rows: two inpaintings, one outpainting, one mask-free edit. Columns: before, mask, after.
        var rows = new List<byte[]?[]>();
        markdown.AppendLine().AppendLine("| row | mode | prompt | checker |").AppendLine("|---|---|---|---|");
        void Row(string mode, string prompt, byte[] before, byte[]? mask, byte[] after, SceneDescription intended)
        {
            rows.Add([before, mask, after]);
            markdown.AppendLine(CultureInfo.InvariantCulture, $"| {rows.Count} | {mode} | {prompt} | {Verdict(after, intended)} |");
        }

        var inpaints = EditCase.HeldOut(3, options.Seed + 1);
        foreach (var (edit, k) in inpaints.Take(2).Select((e, k) => (e, k)))
        {
            var after = await pipeline.EditAsync(pipeline.Inpaint(edit, options.Seed + (ulong)k, blend: true), ct);
            Row("inpaint", edit.Prompt, SceneRenderer.Render(edit.Original, size), EditCase.ToRgb(edit.Mask(size)), after, SceneDescription.Of(edit.Edited));
        }

        var outpaint = OutpaintCase.HeldOut(1, options.Seed + 2)[0];
        var outpainted = await pipeline.EditAsync(pipeline.Outpaint(outpaint, options.Seed, blend: true), ct);
        Row($"outpaint ({outpaint.Side.ToString().ToLowerInvariant()} third)", outpaint.Prompt, outpaint.CroppedOnCanvas(size, (Paper.R, Paper.G, Paper.B)), EditCase.ToRgb(outpaint.NewArea(size)), outpainted, SceneDescription.Of(outpaint.Scene));

        var maskFree = inpaints[2];
        var maskFreeRequest = new EditRequest
        {
            Image = pipeline.ScenePng(maskFree.Original),
            Prompt = maskFree.Prompt,
            Seed = options.Seed,
            MaskFree = new MaskFreeEdit(),
        };
        var edited = await pipeline.EditAsync(maskFreeRequest, ct);
        Row("mask-free edit", maskFree.Prompt, SceneRenderer.Render(maskFree.Original, size), null, edited, SceneDescription.Of(maskFree.Edited));

        var editsPng = Path.Combine(options.Out, "edits.png");
        Save(Sheet([.. rows.SelectMany(r => r)], size, columns: 3), editsPng);
        var text = markdown.ToString();
        await File.WriteAllTextAsync(Path.Combine(options.Out, "showcase.md"), text, ct);
        return new ShowcaseResult(samplesPng, editsPng, text);
    }

    // Cells of size² RGB pixels (null = empty) laid out in rows of `columns`, with gaps, on dark paper.
    private static Image<Rgb24> Sheet(IReadOnlyList<byte[]?> rgbCells, int size, int columns)
    {
        var cells = rgbCells.Select(rgb => rgb is null ? null : Image.LoadPixelData<Rgb24>(rgb, size, size)).ToList();
        try
        {
            return ImageGrid.Compose(cells, columns, Gap, Paper);
        }
        finally
        {
            cells.ForEach(c => c?.Dispose());
        }
    }

    private static void Save(Image<Rgb24> image, string path)
    {
        using (image)
        {
            image.SaveAsPng(path);
        }
    }
}
