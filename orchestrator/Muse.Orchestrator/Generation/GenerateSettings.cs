using System.Security.Cryptography;
using Muse.Decoding;
using Muse.Hosting;
using Muse.Hosting.Security;
using Muse.Orchestrator.Pipelines;
using Muse.Protos.V1;
using Muse.Repository;

namespace Muse.Orchestrator.Generation;

/// <summary>A validated Generate request, with pipeline defaults filled in.</summary>
public sealed record GenerateSettings(
    string RequestId,
    string Prompt,
    string NegativePrompt,
    ulong Seed,
    DecodingSettings Decoding,
    int PreviewEvery,
    PipelineChoice Models)
{
    /// <summary>Longest prompt or negative prompt accepted, in characters (the text encoder's token limit applies too).</summary>
    public const int MaxPromptLength = 1000;

    /// <summary>Most images one request may ask for (the stages' batch limit).</summary>
    public const int MaxImages = 16;

    /// <summary>JPEG/WebP quality when the request leaves it unset.</summary>
    public const int DefaultQuality = 90;

    /// <summary>Images decoded together, 1 to <see cref="MaxImages"/>. Default 1.</summary>
    public int NumImages { get; init; } = 1;

    /// <summary>Encoding of the result images. Default PNG.</summary>
    public ImageFormat OutputFormat { get; init; } = ImageFormat.Png;

    /// <summary>JPEG/WebP quality, 1 to 100. Default <see cref="DefaultQuality"/>.</summary>
    public int Quality { get; init; } = DefaultQuality;

    /// <summary>The seed of every image: image k gets <see cref="CounterRng.ImageSeed"/>(Seed, k).</summary>
    public ulong[] ImageSeeds => [.. Enumerable.Range(0, NumImages).Select(k => CounterRng.ImageSeed(Seed, k))];

    /// <summary>Validates <paramref name="request"/> (INVALID_ARGUMENT naming the field) and fills in the pipeline's defaults.</summary>
    public static GenerateSettings FromRequest(GenerateRequest request, PipelineCatalog catalog)
    {
        ArgumentNullException.ThrowIfNull(request);
        MuseValidation.InRange(request.NumImages, 0, MaxImages);
        MuseValidation.Require(Enum.IsDefined(request.OutputFormat), "is not a known image format.", nameof(request.OutputFormat));
        MuseValidation.InRange(request.Quality, 0, 100);
        return FromRequestFields(request.Prompt, request.NegativePrompt, request.HasSeed ? request.Seed : null, request.Pipeline, request.Decoding, request.PreviewEvery, request.Models, catalog) with
        {
            NumImages = Math.Max(1, request.NumImages),
            OutputFormat = request.OutputFormat,
            Quality = request.Quality == 0 ? DefaultQuality : request.Quality,
        };
    }

    /// <summary>
    /// Validates the fields every image request has (Generate's and Edit's; INVALID_ARGUMENT naming the field) and
    /// fills in the pipeline's defaults. The parameters are the requests' fields of the same names, so an error
    /// names the field either request calls it by.
    /// </summary>
    internal static GenerateSettings FromRequestFields(
        string prompt,
        string negativePrompt,
        ulong? seed,
        string pipeline,
        DecodingOptions? decoding,
        int previewEvery,
        IReadOnlyList<StageModel> models,
        PipelineCatalog catalog)
    {
        MuseValidation.MaxLength(MuseValidation.NotEmpty(prompt.Trim(), nameof(prompt)), MaxPromptLength, nameof(prompt));
        MuseValidation.MaxLength(negativePrompt, MaxPromptLength);
        pipeline = pipeline.Length == 0 ? catalog.DefaultPipeline : pipeline;
        MuseValidation.Require(
            catalog.Contains(pipeline),
            $"names no known pipeline ({BoundedText.Quote(pipeline)}); known: {string.Join(", ", catalog.File.Pipelines.Keys)}.",
            nameof(pipeline));
        var decodingSettings = DecodingSettings.FromRequest(decoding, catalog.File.Pipelines[pipeline].Defaults);
        MuseValidation.InRange(previewEvery, 0, MaskSchedule.MaxSteps);

        var requestId = Guid.NewGuid().ToString("N");
        return new GenerateSettings(
            requestId,
            prompt,
            negativePrompt,
            seed ?? RandomSeed(),
            decodingSettings,
            previewEvery,
            Pin(catalog, catalog.Choose(pipeline, requestId), models));
    }

    // Pinned versions replace the weighted choice stage by stage. Only the pipeline's own candidates may be pinned:
    // every combination of those was checked for compatibility when the catalog loaded.
    private static PipelineChoice Pin(PipelineCatalog catalog, PipelineChoice choice, IReadOnlyList<StageModel> pins)
    {
        var definition = catalog.File.Pipelines[choice.Pipeline];
        foreach (var pin in pins)
        {
            MuseValidation.Require(definition.Stages.ContainsKey(pin.Stage), $"names no stage of the pipeline ({BoundedText.Quote(pin.Stage)}).", "models.stage");
            var candidate = definition.Stages[pin.Stage].FirstOrDefault(c => c.Model == pin.Name && c.Version == pin.Version);
            if (candidate is null)
            {
                var offered = string.Join(", ", definition.Stages[pin.Stage].Select(c => c.Id));
                MuseValidation.ThrowFailedPrecondition(
                    $"Pipeline '{choice.Pipeline}' does not offer {pin.Stage} model {BoundedText.Quote($"{pin.Name}/{pin.Version}")} (it offers {offered}); "
                    + "the image was made with model versions this orchestrator no longer serves.");
            }

            var manifest = catalog.Manifest(candidate.Id);
            choice = pin.Stage switch
            {
                Stages.TextEncoder => choice with { TextEncoder = manifest },
                Stages.ImageTokenizer => choice with { ImageTokenizer = manifest },
                Stages.Base => choice with { Base = manifest },
                _ => choice with { SuperResolution = manifest },
            };
        }

        return choice;
    }

    // An unset seed gets a fresh one, reported back so the image can be reproduced.
    private static ulong RandomSeed() => BitConverter.ToUInt64(RandomNumberGenerator.GetBytes(8)) >> 1;
}
