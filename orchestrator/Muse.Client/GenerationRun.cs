using System.Text.Json;
using Muse.Protos.V1;

namespace Muse.Client;

/// <summary>Where a command writes its images and how it reports.</summary>
/// <param name="Path">Output file; null = muse-&lt;seed&gt;.&lt;format&gt;. Several images get -0, -1, … before the extension.</param>
/// <param name="Grid">One contact sheet instead of one file per image.</param>
/// <param name="Json">Summary as JSON on stdout.</param>
internal sealed record OutputOptions(string? Path, bool Grid, bool Json);

/// <summary>A finished Generate call and the files written from it.</summary>
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
                ["format"] = GenerateCommand.Extension(i.Format),
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
