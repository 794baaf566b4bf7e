using Google.Protobuf;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Muse.Imaging;
using Muse.Orchestrator.Generation;
using Muse.Orchestrator.Pipelines;
using Muse.Orchestrator.Replicas;
using Muse.Protos.V1;
using Muse.Repository;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace Muse.InProcess;

/// <summary>
/// One pipeline of the model repository served in this process (the stage code called directly, no sockets), with
/// the orchestrator's own Generator and Editor: what <c>muse eval</c> and <c>muse showcase</c> run on.
/// Requests and results are RGB pixels of the synthetic scenes.
/// </summary>
public sealed class LocalPipeline : IDisposable
{
    private readonly Generator _generator;
    private readonly Editor _editor;

    private LocalPipeline(InProcessStages stages, PipelineCatalog catalog, string name)
    {
        Stages = stages;
        Catalog = catalog;
        Name = name;
        Models = catalog.Choose(name, "local");
        var runner = new StageRunner(stages, Options.Create(new StageResilienceOptions()), TimeProvider.System, NullLogger<StageRunner>.Instance);
        _generator = new Generator(runner, stages, TimeProvider.System);
        var guard = new ImageUploadGuard(new ImageUploadLimits(), NullLogger<ImageUploadGuard>.Instance);
        _editor = new Editor(runner, stages, guard, TimeProvider.System);
    }

    /// <summary>The stages, for calls below the Generator.</summary>
    public InProcessStages Stages { get; }

    /// <summary>The repository's pipelines.json.</summary>
    public PipelineCatalog Catalog { get; }

    /// <summary>The pipeline's name.</summary>
    public string Name { get; }

    /// <summary>Its models (the first of each stage).</summary>
    public PipelineChoice Models { get; }

    /// <summary>Side of the output images, in pixels (the SR grid times the tokenizer's factor).</summary>
    public int Size => Models.Final.GridWidth * Models.ImageTokenizer.DownsampleFactor;

    /// <summary>The defaults of the pipeline in pipelines.json.</summary>
    public PipelineDefaults Defaults => Catalog.File.Pipelines[Name].Defaults;

    /// <summary>Loads every model of the repository (default located as the stages do) and picks the pipeline (default: the default).</summary>
    public static async Task<LocalPipeline> StartAsync(string? repository, string? pipeline, CancellationToken ct)
    {
        var root = ModelRepository.Locate(repository);
        var stages = await InProcessStages.StartAsync(root, intraOpThreads: 0, ct);
        try
        {
            var catalog = PipelineCatalog.Load(Path.Combine(Path.GetDirectoryName(root)!, "pipelines.json"), root);
            return new LocalPipeline(stages, catalog, pipeline ?? catalog.DefaultPipeline);
        }
        catch
        {
            stages.Dispose();
            throw;
        }
    }

    /// <summary>Generates one image; <see cref="GenerateRequest.Pipeline"/> is set to this pipeline. Returns RGB pixels.</summary>
    public async Task<byte[]> GenerateAsync(GenerateRequest request, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(request);
        request.Pipeline = Name;
        var result = await _generator.GenerateAsync(GenerateSettings.FromRequest(request, Catalog), _ => Task.CompletedTask, null, ct);
        return DecodeRgb(result.Image.Span);
    }

    /// <summary>Runs one edit through the Editor (upload guard included); the pipeline is set to this one. Returns RGB pixels.</summary>
    public async Task<byte[]> EditAsync(EditRequest request, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(request);
        request.Pipeline = Name;
        var result = await _editor.EditAsync(EditSettings.FromRequest(request, Catalog), _ => Task.CompletedTask, null, ct);
        return DecodeRgb(result.Image.Span);
    }

    /// <summary>RGB pixels → PNG.</summary>
    public static byte[] EncodePng(byte[] rgb, int width, int height)
    {
        using var image = Image.LoadPixelData<Rgb24>(rgb, width, height);
        using var stream = new MemoryStream();
        image.SaveAsPng(stream);
        return stream.ToArray();
    }

    /// <summary>A trusted image (the tokenizer's own output) → RGB pixels.</summary>
    public static byte[] DecodeRgb(ReadOnlySpan<byte> png)
    {
        using var image = Image.Load<Rgb24>(png);
        return Pixels(image);
    }

    /// <summary>The RGB pixels of an image, row-major.</summary>
    public static byte[] Pixels(Image<Rgb24> image)
    {
        ArgumentNullException.ThrowIfNull(image);
        var rgb = new byte[image.Width * image.Height * 3];
        image.CopyPixelDataTo(rgb);
        return rgb;
    }

    /// <inheritdoc />
    public void Dispose() => Stages.Dispose();
}
