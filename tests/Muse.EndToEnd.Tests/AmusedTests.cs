using Muse.Cluster;
using Muse.Protos.V1;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace Muse.EndToEnd.Tests;

/// <summary>
/// tests/fixtures/amused-tiny imported by <c>muse models import amused</c> into a temporary repository and pipelines
/// file, then served by a cluster of that repository alone: CLIP text encoder, VQ-GAN and U-ViT, no super-resolution.
/// </summary>
public sealed class AmusedClusterFixture : ClusterFixture
{
    public const string Pipeline = "amused-tiny";

    private string? _folder;

    /// <summary>The imported repository (pipelines.json beside it).</summary>
    public string Repository { get; private set; } = "";

    protected override async Task PrepareAsync(LocalClusterOptions options)
    {
        _folder = Directory.CreateTempSubdirectory("muse-amused-").FullName;
        var repository = Path.Combine(_folder, "repository");
        var pipelines = Path.Combine(_folder, "pipelines.json");
        var checkpoint = Path.Combine(Muse.Testing.Repo.Root, "tests", "fixtures", "amused-tiny", "checkpoint");

        var (exitCode, stdout, stderr) = await MuseCli.RunAsync(
            "models", "import", "amused", checkpoint, "--out", repository, "--name", Pipeline, "--pipelines", pipelines);

        if (exitCode != 0)
        {
            throw new InvalidOperationException($"muse models import amused exited with {exitCode}:\n{stdout}{stderr}");
        }

        Repository = repository;
        options.Repository = repository;
        options.Pipelines = pipelines;
    }

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        if (_folder is not null)
        {
            Directory.Delete(_folder, recursive: true);
        }
    }
}

/// <summary>An imported aMUSEd checkpoint end to end: listed, generated, edited and reproduced through the public API.</summary>
public sealed class AmusedTests(AmusedClusterFixture fixture) : IClassFixture<AmusedClusterFixture>
{
    // The checkpoint's U-ViT works on an 8×8 grid (transformer sample_size) and its VQ-GAN upsamples ×4 (three
    // blocks): the base stage decodes the whole 32×32 image.
    private const int Size = 32;

    [Fact]
    public async Task ListModels_ImportedCheckpoint_ListsThePipelineWithoutSrAtTheCheckpointsSize()
    {
        var reply = await fixture.Client.ListModelsAsync(new ListModelsRequest());

        var pipeline = Assert.Single(reply.Pipelines);
        Assert.Equal(AmusedClusterFixture.Pipeline, pipeline.Name);
        Assert.Equal(AmusedClusterFixture.Pipeline, reply.DefaultPipeline);
        Assert.Equal(["base", "image_tokenizer", "text_encoder"], pipeline.Models.Select(m => m.Model.Stage).Order());
        Assert.Equal(["amused-tiny-base", "amused-tiny-clip", "amused-tiny-vqgan"], pipeline.Models.Select(m => m.Model.Name).Order());
        Assert.Equal((Size, Size), (pipeline.Width, pipeline.Height));
    }

    [Fact]
    public async Task Generate_Seed_StreamsBaseStepsWithPreviewsThenPngWithItsParameters()
    {
        var request = Request(seed: 7);
        request.PreviewEvery = 2;

        var events = await fixture.GenerateAsync(request);

        var accepted = events[0].Accepted;
        Assert.NotNull(accepted);
        Assert.Equal(["text_encoder", "base", "image_tokenizer"], accepted.Models.Select(m => m.Stage));
        var progress = events.Skip(1).SkipLast(1).Select(e => e.Progress).ToList();
        Assert.All(progress, Assert.NotNull);
        Assert.Equal(Enumerable.Range(1, 4).Select(s => ("base", s, 4)), progress.Select(p => (p.Stage, p.Step, p.Steps)));
        Assert.Equal([2, 4], progress.Where(p => p.PreviewPng.Length > 0).Select(p => p.Step));
        using var preview = Image.Load<Rgb24>(progress[^1].PreviewPng.Span);
        Assert.Equal((Size, Size), (preview.Width, preview.Height));
        var result = events[^1].Result;
        Assert.NotNull(result);
        using var image = Image.Load<Rgb24>(result.Image.Span);
        Assert.Equal((Size, Size), (image.Width, image.Height));
        var text = Image.Identify(result.Image.ToByteArray()).Metadata.GetPngMetadata().TextData.Single(t => t.Keyword == "muse:parameters").Value;
        Assert.Contains("\"seed\":7,", text, StringComparison.Ordinal);
        Assert.Contains($"\"pipeline\":\"{AmusedClusterFixture.Pipeline}\"", text, StringComparison.Ordinal);
        Assert.Contains("{\"stage\":\"base\",\"name\":\"amused-tiny-base\",\"version\":\"1\"}", text, StringComparison.Ordinal);
        Assert.DoesNotContain("\"stage\":\"sr\"", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Generate_SameSeedTwice_IdenticalPngAndOtherSeedDiffers()
    {
        var first = GenerateTests.Png(await fixture.GenerateAsync(Request(seed: 11)));
        var second = GenerateTests.Png(await fixture.GenerateAsync(Request(seed: 11)));
        var other = GenerateTests.Png(await fixture.GenerateAsync(Request(seed: 12)));

        Assert.Equal(first, second);
        Assert.NotEqual(first, other);
    }

    [Fact]
    public async Task Inpaint_CentreMask_KeepsPixelsOutsideTheMask()
    {
        var image = EditSamples.ScenePng(Size, Size);
        var (x0, y0, x1, y1) = (Size / 4, Size / 4, 3 * Size / 4, 3 * Size / 4);

        var events = await fixture.EditAsync(EditSamples.Inpaint(image, EditSamples.MaskPng(Size, Size, x0, y0, x1, y1), seed: 3));

        Assert.Equal([("base", 1), ("base", 2)], events.Where(e => e.Progress is not null).Select(e => (e.Progress.Stage, e.Progress.Step)));
        var result = events[^1].Result;
        Assert.NotNull(result);
        using var edited = Image.Load<Rgb24>(result.Image.Span);
        using var original = Image.Load<Rgb24>(image);
        Assert.Equal((Size, Size), (edited.Width, edited.Height));
        // Blending pastes the input back exactly outside the mask, and PNG is lossless.
        Assert.Equal(0, EditSamples.MaxDifference(edited, original, (x, y) => !Inside(x, y)));
        Assert.True(EditSamples.MaxDifference(edited, original, Inside) > 0, "the masked region was not regenerated");

        bool Inside(int x, int y) => x >= x0 && x < x1 && y >= y0 && y < y1;
    }

    [Fact]
    public async Task MuseReproduce_GeneratedPng_ByteIdenticalFile()
    {
        var result = (await fixture.GenerateAsync(Request(seed: 5)))[^1].Result;

        await MuseCli.AssertReproducesAsync(result.Image.ToByteArray(), fixture.Cluster.OrchestratorUrl);
    }

    // Few steps: the tests check the served pipeline's contract, not picture quality (the checkpoint is random).
    private static GenerateRequest Request(ulong seed) => new()
    {
        Prompt = GenerateTests.Prompt,
        Seed = seed,
        Decoding = new DecodingOptions { BaseSteps = 4 },
    };

    [Fact]
    public async Task MuseBench_ImportedPipelineWithoutSr_ReportsTheStagesItHasAndItsLoad()
    {
        var (exitCode, stdout, stderr) = await MuseCli.RunAsync(
            "bench", "--repository", fixture.Repository, "--pipeline", AmusedClusterFixture.Pipeline, "--mode", "in-process",
            "--requests", "1", "--steps", "2", "--peak-gemm", "0", "--json");

        Assert.True(exitCode == 0, stderr);
        using var json = System.Text.Json.JsonDocument.Parse(stdout);
        var root = json.RootElement;
        var stages = root.GetProperty("in_process_ms");
        Assert.Equal(["text_encoder", "base", "image_tokenizer", "total"], stages.EnumerateObject().Select(p => p.Name));
        Assert.All(stages.EnumerateObject(), p => Assert.True(p.Value.GetDouble() > 0, p.Name));
        Assert.Empty(root.GetProperty("utilization").EnumerateObject());   // no FLOP model for the U-ViT
        Assert.True(root.GetProperty("load").GetProperty("peak_rss_bytes").GetInt64() > 0);
    }
}
