using System.Text.Json;
using Muse.Protos.V1;

namespace Muse.Client;

/// <summary>Where a command writes its images and how it reports.</summary>
/// <param name="Path">Output file; null = <see cref="DefaultName"/>. Several images get -0, -1, … before the extension.</param>
/// <param name="Grid">One contact sheet instead of one file per image.</param>
/// <param name="Json">Summary as JSON on stdout.</param>
internal sealed record OutputOptions(string? Path, bool Grid, bool Json)
{
    /// <summary>The format the images were asked in: the default file's extension, and the contact sheet's. Default PNG.</summary>
    public ImageFormat Format { get; init; } = ImageFormat.Png;

    /// <summary>JPEG/WebP quality of a contact sheet, 1 to 100; 0 (default) = 90.</summary>
    public int Quality { get; init; }

    /// <summary>The output file when <see cref="Path"/> is null, from the seed; null (default) = muse-&lt;seed&gt;.&lt;format&gt;.</summary>
    public Func<ulong, string>? DefaultName { get; init; }
}

/// <summary>A finished Generate or Edit call and the files written from it.</summary>
internal sealed record GenerationRun(
    Accepted Accepted, Result Result, IReadOnlyList<GeneratedImage> Images, IReadOnlyList<string> Paths, IReadOnlyDictionary<string, int> StepsByStage);

/// <summary>The summary of a run as JSON, for scripts.</summary>
internal static class RunSummary
{
    private static readonly JsonSerializerOptions Options = new() { WriteIndented = true };

    public static string ToJson(GenerationRun run, IReadOnlyDictionary<string, string>? extra = null)
    {
        var summary = new Dictionary<string, object?>(StringComparer.Ordinal)
        {
            ["request_id"] = run.Result.RequestId,
            ["pipeline"] = run.Accepted.Pipeline,
            ["seed"] = run.Result.Seed,
            ["steps"] = run.StepsByStage,
            ["models"] = run.Result.Models.Select(m => new Dictionary<string, string>(StringComparer.Ordinal)
            {
                ["stage"] = m.Stage,
                ["name"] = m.Name,
                ["version"] = m.Version,
            }).ToList(),
            ["timings_ms"] = run.Result.Timings.ToDictionary(t => t.Stage, t => Math.Round(t.Milliseconds, 3), StringComparer.Ordinal),
            ["images"] = run.Images.Select(i => new Dictionary<string, object>(StringComparer.Ordinal)
            {
                ["seed"] = i.Seed,
                ["width"] = i.Width,
                ["height"] = i.Height,
                ["format"] = ImageCall.Extension(i.Format),
            }).ToList(),
            ["output"] = run.Paths,
        };
        foreach (var (key, value) in extra ?? new Dictionary<string, string>())
        {
            summary[key] = value;
        }

        return JsonSerializer.Serialize(summary, Options);
    }
}
