using System.Diagnostics;
using System.Text.Json;

namespace Muse.EndToEnd.Tests;

public sealed class BenchTests
{
    [Fact]
    public async Task MuseBench_Json_PrintsOneObjectWithBothModesRatioAndIdentity()
    {
        var (exitCode, stdout, stderr) = await RunMuseAsync("bench", "--requests", "1", "--warmup", "1", "--steps", "2", "--sr-steps", "2", "--json");

        Assert.True(exitCode == 0, stderr);
        using var json = JsonDocument.Parse(stdout); // stdout is the object and nothing else
        var root = json.RootElement;
        Assert.True(root.GetProperty("identical").GetBoolean());
        Assert.True(root.GetProperty("ratio").GetDouble() > 0);
        foreach (var mode in new[] { "split_ms", "in_process_ms" })
        {
            foreach (var stage in new[] { "text_encoder", "base", "sr", "image_tokenizer", "total" })
            {
                Assert.True(root.GetProperty(mode).GetProperty(stage).GetDouble() > 0, $"{mode}.{stage}");
            }
        }

        Assert.True(root.GetProperty("split_ms").GetProperty("client").GetDouble() > 0);
        Assert.Equal(1, root.GetProperty("requests").GetInt32());
        Assert.Equal(1, root.GetProperty("warmup_requests").GetInt32());
        // A machine without a GPU skips the CUDA provider quietly instead of letting ONNX Runtime print a load error.
        Assert.DoesNotContain("Failed to load library", stderr, StringComparison.Ordinal);
    }

    private static Task<(int ExitCode, string Stdout, string Stderr)> RunMuseAsync(params string[] arguments) => MuseCli.RunAsync(arguments);
}
