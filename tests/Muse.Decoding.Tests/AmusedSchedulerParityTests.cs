using System.Text.Json;

namespace Muse.Decoding.Tests;

/// <summary>
/// The decoding's deterministic parts against diffusers' AmusedScheduler and pipeline (tests/fixtures/amused-tiny/
/// reference.json): tokens still masked after every step of a cosine schedule, and the guidance mix at scale 10.
/// </summary>
public sealed class AmusedSchedulerParityTests
{
    private static readonly JsonElement Reference = Load();

    [Theory]
    [InlineData(12, 64)]
    [InlineData(12, 256)]
    [InlineData(12, 1024)]
    [InlineData(8, 64)]
    [InlineData(8, 256)]
    [InlineData(8, 1024)]
    public void MaskCount_AmusedCosine_EqualsReferenceSchedulerCounts(int steps, int tokens)
    {
        var expected = Reference.GetProperty("scheduler").GetProperty($"{steps}_{tokens}").GetProperty("mask_counts")
            .EnumerateArray().Select(e => e.GetInt32()).ToArray();
        var schedule = new MaskSchedule(MaskScheduleKind.AmusedCosine, steps);

        var counts = Enumerable.Range(1, steps).Select(t => schedule.MaskCount(t, tokens)).ToArray();

        Assert.Equal(expected, counts);
    }

    [Fact]
    public void Mix_Scale10_EqualsReferenceGuidance()
    {
        var guidance = Reference.GetProperty("scheduler").GetProperty("guidance");
        float[] Floats(string name) => [.. guidance.GetProperty(name).EnumerateArray().Select(e => e.GetSingle())];
        var mixed = new float[16];

        Guidance.Mix(Floats("cond"), Floats("uncond"), guidance.GetProperty("scale").GetSingle(), mixed);

        var expected = Floats("mixed");
        for (var i = 0; i < mixed.Length; i++)
        {
            Assert.True(Math.Abs(expected[i] - mixed[i]) <= 1e-5f * Math.Max(1f, Math.Abs(expected[i])), $"element {i}: {expected[i]} vs {mixed[i]}");
        }
    }

    private static JsonElement Load()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            var path = Path.Combine(directory.FullName, "tests", "fixtures", "amused-tiny", "reference.json");
            if (File.Exists(path))
            {
                return JsonDocument.Parse(File.ReadAllText(path)).RootElement;
            }
        }

        throw new InvalidOperationException("tests/fixtures/amused-tiny/reference.json not found above the test binaries.");
    }
}
