using Muse.Evaluation;
using SixLabors.ImageSharp;

namespace Muse.Evaluation.Tests;

public sealed class ShowcaseTests : IDisposable
{
    private readonly string _out = Directory.CreateTempSubdirectory("muse-showcase-").FullName;

    [Fact]
    public async Task RunAsync_RandomFixturePipeline_WritesTheGridTheEditRowsAndTheirTable()
    {
        var result = await Showcase.RunAsync(new ShowcaseOptions { Out = _out, Samples = 4, Pipeline = "muse-random" }, CancellationToken.None);

        var samples = Image.Identify(result.SamplesPng);
        var edits = Image.Identify(result.EditsPng);
        Assert.Equal((4 + (4 * 132), 4 + 132), (samples.Width, samples.Height));     // one row of four 128 px cells
        Assert.Equal((4 + (3 * 132), 4 + (4 * 132)), (edits.Width, edits.Height));   // four rows: before, mask, after
        var lines = File.ReadAllLines(Path.Combine(_out, "showcase.md"));
        Assert.Equal(4 + 4, lines.Count(l => l.StartsWith("| ", StringComparison.Ordinal) && char.IsDigit(l[2])));   // 4 prompts, 4 edits
        Assert.Contains(lines, l => l.Contains("| outpaint (", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains("| mask-free edit |", StringComparison.Ordinal));
    }

    public void Dispose() => Directory.Delete(_out, recursive: true);
}
