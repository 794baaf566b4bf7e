using System.Diagnostics;
using Muse.Cluster;
using Muse.Decoding;
using Muse.Protos.V1;
using SixLabors.ImageSharp;

namespace Muse.EndToEnd.Tests;

/// <summary>Batches, output formats, and images that carry what made them.</summary>
[Collection(SharedCluster.Name)]
public sealed class ImagesTests(ClusterFixture fixture)
{
    [Fact]
    public async Task Generate_FourImages_ImageKEqualsAOneImageRequestWithItsSeed()
    {
        var request = GenerateTests.Request(seed: 7, baseSteps: 4, srSteps: 2);
        request.NumImages = 4;

        var events = await fixture.GenerateAsync(request);

        var result = events[^1].Result;
        Assert.Equal(Enumerable.Range(0, 4).Select(k => CounterRng.ImageSeed(7, k)), result.Images.Select(i => i.Seed));
        Assert.Equal(Enumerable.Range(0, 4), result.Images.Select(i => i.Index));
        Assert.Equal(result.Images[0].Image, result.Image);                  // old clients get image 0
        Assert.Equal(4, result.Images.Select(i => i.Image).Distinct().Count());
        // One batched pass per step: progress counts steps, not images.
        Assert.Equal(4 + 2, events.Count(e => e.Progress is not null));
        for (var k = 0; k < 4; k++)
        {
            var alone = await fixture.GenerateAsync(GenerateTests.Request(seed: CounterRng.ImageSeed(7, k), baseSteps: 4, srSteps: 2));
            Assert.Equal(GenerateTests.Png(alone), result.Images[k].Image.ToByteArray());
        }
    }

    [Fact]
    public async Task Generate_Png_CarriesItsParametersAsJsonTextChunk()
    {
        var request = GenerateTests.Request(seed: 5, baseSteps: 3, srSteps: 2);
        request.NegativePrompt = "a blue square";

        var events = await fixture.GenerateAsync(request);
        var png = GenerateTests.Png(events);

        var text = Image.Identify(png).Metadata.GetPngMetadata().TextData.Single(t => t.Keyword == "muse:parameters").Value;
        Assert.Contains("\"prompt\":\"a large red circle on the left\"", text, StringComparison.Ordinal);
        Assert.Contains("\"negativePrompt\":\"a blue square\"", text, StringComparison.Ordinal);
        Assert.Contains("\"seed\":5,", text, StringComparison.Ordinal);
        Assert.Contains("\"baseSteps\":3,", text, StringComparison.Ordinal);
        var sr = events[^1].Result.Models.Single(m => m.Stage == "sr");
        Assert.Contains($"{{\"stage\":\"sr\",\"name\":\"{sr.Name}\",\"version\":\"{sr.Version}\"}}", text, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(ImageFormat.Jpeg, "JPEG")]
    [InlineData(ImageFormat.Webp, "Webp")]
    public async Task Generate_OutputFormat_ImagesInThatFormat(ImageFormat format, string name)
    {
        var request = GenerateTests.Request(seed: 4, baseSteps: 2, srSteps: 2);
        request.OutputFormat = format;
        request.Quality = 80;
        request.NumImages = 2;

        var result = (await fixture.GenerateAsync(request))[^1].Result;

        Assert.All(result.Images, i => Assert.Equal(name, Image.DetectFormat(i.Image.ToByteArray())?.Name));
        Assert.All(result.Images, i => Assert.Equal(format, i.Format));
        using var image = Image.Load(result.Images[1].Image.ToByteArray());
        Assert.Equal((result.Images[1].Width, result.Images[1].Height), (image.Width, image.Height));
    }

    [Fact]
    public async Task MuseReproduce_ImageOfABatch_ByteIdenticalFile()
    {
        var request = GenerateTests.Request(seed: 12, baseSteps: 3, srSteps: 2);
        request.NumImages = 2;
        request.Decoding.GuidanceSchedule = Protos.V1.GuidanceSchedule.Linear;
        request.Decoding.ChoiceTemperature = 2.25f;
        var result = (await fixture.GenerateAsync(request))[^1].Result;

        await MuseCli.AssertReproducesAsync(result.Images[1].Image.ToByteArray(), fixture.Cluster.OrchestratorUrl);
    }
}
