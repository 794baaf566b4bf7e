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
        // The transport's own floor: 1 Encode + 2 base + 2 SR steps + 1 Detokenize, each at least one measured round trip.
        var floor = root.GetProperty("transport_floor");
        Assert.Equal(6, floor.GetProperty("hops_per_request").GetDouble());
        Assert.True(floor.GetProperty("ms_per_hop").GetDouble() > 0);
        // Both are rounded to 0.001 ms in the JSON, so six rounded hops may differ from the rounded whole by 6 × 0.0005.
        Assert.Equal(floor.GetProperty("ms_per_hop").GetDouble() * 6, floor.GetProperty("ms_per_request").GetDouble(), tolerance: 0.0035);
        Assert.True(floor.GetProperty("ratio_floor").GetDouble() > 1);
        // A machine without a GPU skips the CUDA provider quietly instead of letting ONNX Runtime print a load error.
        Assert.DoesNotContain("Failed to load library", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task MuseBench_InProcessMode_ReportsUtilizationAgainstAMeasuredPeakWithoutASplitRun()
    {
        var (exitCode, stdout, stderr) = await RunMuseAsync(
            "bench", "--mode", "in-process", "--requests", "1", "--steps", "2", "--sr-steps", "2", "--peak-gemm", "256", "--json");

        Assert.True(exitCode == 0, stderr);
        using var json = JsonDocument.Parse(stdout);
        var root = json.RootElement;
        Assert.Equal("in-process", root.GetProperty("mode").GetString());
        Assert.False(root.TryGetProperty("split_ms", out _));
        Assert.False(root.TryGetProperty("transport_floor", out _));   // no split run, no stage to measure
        Assert.Equal(1, root.GetProperty("warmup_requests").GetInt32());   // the in-process default
        Assert.False(root.GetProperty("allow_spinning").GetBoolean());
        var peak = root.GetProperty("peak").GetProperty("flops_per_second").GetDouble();
        Assert.True(peak > 1e8, $"peak {peak} FLOP/s");
        Assert.Equal(2, root.GetProperty("peak").GetProperty("samples_flops_per_second").GetArrayLength());
        var utilization = root.GetProperty("utilization");
        var (base_, sr) = (utilization.GetProperty("base"), utilization.GetProperty("sr"));
        foreach (var stage in new[] { base_, sr })
        {
            // Counted from the architecture (2 guided rows of a tiny model: millions, not thousands, of FLOPs).
            Assert.True(stage.GetProperty("flops_per_step").GetDouble() > 1e7);
            var achieved = stage.GetProperty("flops_per_second").GetDouble();
            Assert.Equal(achieved / peak, stage.GetProperty("utilization").GetDouble(), 3);
            Assert.True(stage.GetProperty("ms_per_step").GetDouble() > 0);
        }

        Assert.True(root.GetProperty("load").GetProperty("seconds").GetDouble() > 0);
        Assert.True(root.GetProperty("load").GetProperty("peak_rss_bytes").GetDouble() >= root.GetProperty("load").GetProperty("rss_after_load_bytes").GetDouble());
        Assert.Equal(3, root.GetProperty("load_average").GetProperty("start").GetArrayLength());
    }

    private static Task<(int ExitCode, string Stdout, string Stderr)> RunMuseAsync(params string[] arguments) => MuseCli.RunAsync(arguments);
}
