using System.Text.Json;
using Muse.Cluster;
using Muse.Decoding;
using Muse.Imaging;
using Muse.Protos.V1;

namespace Muse.EndToEnd.Tests;

/// <summary>Re-competition of committed tokens (decoding options <c>recompete</c>, <c>sr_recompete</c>) through the served pipeline.</summary>
[Collection(SharedCluster.Name)]
public sealed class RecompeteTests(ClusterFixture fixture)
{
    [Fact]
    public async Task Generate_Recompete_ChangesTheImageAndImageKEqualsAOneImageRequest()
    {
        var request = Request(seed: 21);
        request.NumImages = 2;

        var result = (await fixture.GenerateAsync(request))[^1].Result;
        var classic = (await fixture.GenerateAsync(GenerateTests.Request(seed: 21, baseSteps: 6, srSteps: 3)))[^1].Result;

        Assert.NotEqual(classic.Image, result.Images[0].Image);
        for (var k = 0; k < 2; k++)
        {
            var alone = (await fixture.GenerateAsync(Request(CounterRng.ImageSeed(21, k))))[^1].Result;
            Assert.Equal(alone.Image, result.Images[k].Image);
        }

        var parameters = GenerationParameters.Read(result.Images[1].Image.ToByteArray());
        Assert.Equal((true, true), (parameters.Recompete, parameters.SrRecompete));
    }

    [Fact]
    public async Task MuseReproduce_RecompetedImage_ByteIdenticalFile()
    {
        var result = (await fixture.GenerateAsync(Request(seed: 5)))[^1].Result;

        await MuseCli.AssertReproducesAsync(result.Image.ToByteArray(), fixture.Cluster.OrchestratorUrl);
    }

    [Fact]
    public async Task MuseGenerate_RecompeteFlag_SentAndRecordedForTheBaseStageOnly()
    {
        var folder = Directory.CreateTempSubdirectory("muse-recompete-").FullName;
        try
        {
            var file = Path.Combine(folder, "image.png");

            var (exitCode, stdout, stderr) = await MuseCli.RunAsync(
                "generate", GenerateTests.Prompt, "--seed", "4", "--steps", "4", "--sr-steps", "2", "--recompete", "--out", file,
                "--endpoint", ListeningLine.Format(fixture.Cluster.OrchestratorUrl));

            Assert.True(exitCode == 0, stdout + stderr);
            var parameters = GenerationParameters.Read(await File.ReadAllBytesAsync(file));
            Assert.Equal((true, false), (parameters.Recompete, parameters.SrRecompete));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public async Task MuseBench_Recompete_SplitAndInProcessImagesIdentical()
    {
        var (exitCode, stdout, stderr) = await MuseCli.RunAsync(
            "bench", "--requests", "1", "--warmup", "0", "--steps", "4", "--sr-steps", "2", "--peak-gemm", "0", "--recompete", "--json");

        Assert.True(exitCode == 0, stderr);
        using var json = JsonDocument.Parse(stdout);
        Assert.True(json.RootElement.GetProperty("identical").GetBoolean());
    }

    private static GenerateRequest Request(ulong seed)
    {
        var request = GenerateTests.Request(seed, baseSteps: 6, srSteps: 3);
        request.Decoding.Recompete = true;
        request.Decoding.SrRecompete = true;
        return request;
    }
}
