using Grpc.Core;
using Muse.Protos.V1;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace Muse.EndToEnd.Tests;

[Collection(SharedCluster.Name)]
public sealed class GenerateTests(ClusterFixture fixture)
{
    internal const string Prompt = "a large red circle on the left";

    [Fact]
    public async Task Generate_ValidPrompt_StreamsAcceptedThenEveryStepThenPng()
    {
        var request = Request(seed: 7, baseSteps: 6, srSteps: 4);

        var events = await fixture.GenerateAsync(request);

        var accepted = events[0].Accepted;
        Assert.NotNull(accepted);
        Assert.Equal(7ul, accepted.Seed);
        Assert.NotEmpty(accepted.RequestId);
        Assert.Equal(["text_encoder", "base", "sr", "image_tokenizer"], accepted.Models.Select(m => m.Stage));
        var progress = events.Skip(1).SkipLast(1).Select(e => e.Progress).ToList();
        Assert.All(progress, Assert.NotNull);
        Assert.Equal(
            Enumerable.Range(1, 6).Select(s => ("base", s, 6)).Concat(Enumerable.Range(1, 4).Select(s => ("sr", s, 4))),
            progress.Select(p => (p.Stage, p.Step, p.Steps)));
        var result = events[^1].Result;
        Assert.NotNull(result);
        Assert.Equal(accepted.RequestId, result.RequestId);
        var pipeline = (await fixture.Client.ListModelsAsync(new ListModelsRequest())).Pipelines[0];
        using var image = Image.Load<Rgb24>(result.Image.Span);
        Assert.Equal((pipeline.Width, pipeline.Height), (image.Width, image.Height));
        Assert.Equal((result.Width, result.Height), (image.Width, image.Height));
        Assert.Contains(result.Timings, t => t.Stage == "total" && t.Milliseconds > 0);
    }

    [Fact]
    public async Task Generate_MaskedTokensPerStep_FollowCosineSchedule()
    {
        var events = await fixture.GenerateAsync(Request(seed: 3, baseSteps: 12, srSteps: 8));

        foreach (var stage in new[] { "base", "sr" })
        {
            var progress = events.Where(e => e.Progress?.Stage == stage).Select(e => e.Progress).ToList();
            var total = progress[0].TotalTokens;
            var steps = progress[0].Steps;
            var expected = new List<int>();
            var masked = total;
            for (var t = 1; t <= steps; t++)
            {
                // MaskGIT: N·cos(π/2·t/T), at least one fewer than before and at least one until the last step.
                masked = t == steps ? 0 : Math.Max(1, Math.Min(masked - 1, (int)Math.Floor(total * Math.Cos(Math.PI / 2 * t / steps))));
                expected.Add(masked);
            }

            Assert.Equal(expected, progress.Select(p => p.MaskedTokens));
        }
    }

    [Fact]
    public async Task Generate_SameSeedAndSettings_ByteIdenticalImages()
    {
        var first = Png(await fixture.GenerateAsync(Request(seed: 11, baseSteps: 8, srSteps: 4)));
        var second = Png(await fixture.GenerateAsync(Request(seed: 11, baseSteps: 8, srSteps: 4)));

        Assert.Equal(first, second);
    }

    [Fact]
    public async Task Generate_DifferentSeed_DifferentImage()
    {
        var first = Png(await fixture.GenerateAsync(Request(seed: 1, baseSteps: 8, srSteps: 4)));
        var second = Png(await fixture.GenerateAsync(Request(seed: 2, baseSteps: 8, srSteps: 4)));

        Assert.NotEqual(first, second);
    }

    [Fact]
    public async Task Generate_UnsetSeed_ReportsTheSeedItChose()
    {
        var request = Request(seed: 0, baseSteps: 2, srSteps: 2);
        request.ClearSeed();

        var events = await fixture.GenerateAsync(request);

        Assert.Equal(events[0].Accepted.Seed, events[^1].Result.Seed);
        var again = Png(await fixture.GenerateAsync(Request(seed: events[0].Accepted.Seed, baseSteps: 2, srSteps: 2)));
        Assert.Equal(Png(events), again);
    }

    [Fact]
    public async Task Generate_PreviewEvery_SendsPreviewsOfBothStagesAtTheirResolution()
    {
        var request = Request(seed: 5, baseSteps: 6, srSteps: 4);
        request.PreviewEvery = 3;

        var events = await fixture.GenerateAsync(request);

        var withPreview = events.Where(e => e.Progress is { PreviewPng.Length: > 0 }).Select(e => e.Progress).ToList();
        Assert.Equal([("base", 3), ("base", 6), ("sr", 3), ("sr", 4)], withPreview.Select(p => (p.Stage, p.Step)));
        using var basePreview = Image.Load<Rgb24>(withPreview[0].PreviewPng.Span);
        using var srPreview = Image.Load<Rgb24>(withPreview[^1].PreviewPng.Span);
        var result = events[^1].Result;
        Assert.Equal(result.Width / 2, basePreview.Width);
        Assert.Equal(result.Width, srPreview.Width);
    }

    [Fact]
    public async Task Generate_NegativePromptAndGuidanceSchedule_ChangeTheImage()
    {
        var plain = Png(await fixture.GenerateAsync(Request(seed: 9, baseSteps: 6, srSteps: 2)));
        var negative = Request(seed: 9, baseSteps: 6, srSteps: 2);
        negative.NegativePrompt = "a blue square";
        var linear = Request(seed: 9, baseSteps: 6, srSteps: 2);
        linear.Decoding.GuidanceSchedule = GuidanceSchedule.Linear;

        Assert.NotEqual(plain, Png(await fixture.GenerateAsync(negative)));
        Assert.NotEqual(plain, Png(await fixture.GenerateAsync(linear)));
    }

    [Fact]
    public async Task ListModels_Default_ListsEveryStageOfTheDefaultPipeline()
    {
        var reply = await fixture.Client.ListModelsAsync(new ListModelsRequest());

        var pipeline = Assert.Single(reply.Pipelines, p => p.Name == reply.DefaultPipeline);
        Assert.Equal(["base", "image_tokenizer", "sr", "text_encoder"], pipeline.Models.Select(m => m.Model.Stage).Distinct().Order());
        Assert.True(pipeline.Width >= 128);
    }

    internal static GenerateRequest Request(ulong seed, int baseSteps, int srSteps) => new()
    {
        Prompt = Prompt,
        Seed = seed,
        Decoding = new DecodingOptions { BaseSteps = baseSteps, SrSteps = srSteps },
    };

    internal static byte[] Png(List<GenerateEvent> events) => events[^1].Result.Image.ToByteArray();
}
