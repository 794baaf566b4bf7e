using System.Security.Cryptography;
using Muse.Decoding;
using Muse.Hosting;
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
    DecodeOptions Base,
    DecodeOptions SuperResolution,
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
        MuseValidation.MaxLength(MuseValidation.NotEmpty(request.Prompt.Trim()), MaxPromptLength, nameof(request.Prompt));
        MuseValidation.MaxLength(request.NegativePrompt, MaxPromptLength);
        var pipeline = request.Pipeline.Length == 0 ? catalog.DefaultPipeline : request.Pipeline;
        MuseValidation.Require(
            catalog.Contains(pipeline),
            $"names no known pipeline ('{pipeline}'); known: {string.Join(", ", catalog.File.Pipelines.Keys)}.",
            nameof(request.Pipeline));
        if (request.HasBaseSteps)
        {
            MuseValidation.InRange(request.BaseSteps, 1, MaskSchedule.MaxSteps);
        }

        if (request.HasSrSteps)
        {
            MuseValidation.InRange(request.SrSteps, 1, MaskSchedule.MaxSteps);
        }

        if (request.HasGuidanceScale)
        {
            MuseValidation.InRange(MuseValidation.Finite(request.GuidanceScale), 0f, DecodeOptions.MaxGuidanceScale, nameof(request.GuidanceScale));
        }

        if (request.HasSamplingTemperature)
        {
            MuseValidation.InRange(MuseValidation.Finite(request.SamplingTemperature), 0f, DecodeOptions.MaxSamplingTemperature, nameof(request.SamplingTemperature));
        }

        if (request.HasSrSamplingTemperature)
        {
            MuseValidation.InRange(MuseValidation.Finite(request.SrSamplingTemperature), 0f, DecodeOptions.MaxSamplingTemperature, nameof(request.SrSamplingTemperature));
        }

        if (request.HasChoiceTemperature)
        {
            MuseValidation.InRange(MuseValidation.Finite(request.ChoiceTemperature), 0f, DecodeOptions.MaxChoiceTemperature, nameof(request.ChoiceTemperature));
        }

        MuseValidation.Require(Enum.IsDefined(request.GuidanceSchedule), "is not a known guidance schedule.", nameof(request.GuidanceSchedule));
        MuseValidation.InRange(request.PreviewEvery, 0, MaskSchedule.MaxSteps);
        MuseValidation.InRange(request.NumImages, 0, MaxImages);
        MuseValidation.Require(Enum.IsDefined(request.OutputFormat), "is not a known image format.", nameof(request.OutputFormat));
        MuseValidation.InRange(request.Quality, 0, 100);

        var requestId = Guid.NewGuid().ToString("N");
        var models = Pin(catalog, catalog.Choose(pipeline, requestId), request.Models);
        var (baseOptions, srOptions) = DecodeOptionsOf(request, models.Defaults);
        return new GenerateSettings(
            requestId,
            request.Prompt,
            request.NegativePrompt,
            request.HasSeed ? request.Seed : RandomSeed(),
            baseOptions,
            srOptions,
            request.PreviewEvery,
            models)
        {
            NumImages = Math.Max(1, request.NumImages),
            OutputFormat = request.OutputFormat,
            Quality = request.Quality == 0 ? DefaultQuality : request.Quality,
        };
    }

    /// <summary>
    /// The decoding settings of the base and SR stages: what <paramref name="request"/> sets (already validated),
    /// the rest from the pipeline's <paramref name="defaults"/>. The SR's sampling temperature falls back to the
    /// pipeline's <c>srSamplingTemperature</c>, then to the base's.
    /// </summary>
    public static (DecodeOptions Base, DecodeOptions SuperResolution) DecodeOptionsOf(GenerateRequest request, PipelineDefaults defaults)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(defaults);
        var common = new DecodeOptions
        {
            MaskSchedule = Enum.Parse<MaskScheduleKind>(defaults.MaskSchedule, ignoreCase: true),
            GuidanceScale = request.HasGuidanceScale ? request.GuidanceScale : (float)defaults.GuidanceScale,
            GuidanceSchedule = request.GuidanceSchedule == Protos.V1.GuidanceSchedule.Linear ? Decoding.GuidanceSchedule.Linear : Decoding.GuidanceSchedule.Constant,
            SamplingTemperature = request.HasSamplingTemperature ? request.SamplingTemperature : (float)defaults.SamplingTemperature,
            ChoiceTemperature = request.HasChoiceTemperature ? request.ChoiceTemperature : (float)defaults.ChoiceTemperature,
        };
        return (
            common with { Steps = request.HasBaseSteps ? request.BaseSteps : defaults.BaseSteps },
            common with
            {
                Steps = request.HasSrSteps ? request.SrSteps : defaults.SrSteps,
                SamplingTemperature = request.HasSrSamplingTemperature ? request.SrSamplingTemperature
                    : defaults.SrSamplingTemperature is { } sr ? (float)sr
                    : common.SamplingTemperature,
            });
    }

    // Pinned versions replace the weighted choice stage by stage. Only the pipeline's own candidates may be pinned:
    // every combination of those was checked for compatibility when the catalog loaded.
    private static PipelineChoice Pin(PipelineCatalog catalog, PipelineChoice choice, IReadOnlyList<StageModel> pins)
    {
        var definition = catalog.File.Pipelines[choice.Pipeline];
        foreach (var pin in pins)
        {
            MuseValidation.Require(definition.Stages.ContainsKey(pin.Stage), $"names no stage of the pipeline ('{pin.Stage}').", "models.stage");
            var candidate = definition.Stages[pin.Stage].FirstOrDefault(c => c.Model == pin.Name && c.Version == pin.Version);
            if (candidate is null)
            {
                var offered = string.Join(", ", definition.Stages[pin.Stage].Select(c => c.Id));
                MuseValidation.ThrowFailedPrecondition(
                    $"Pipeline '{choice.Pipeline}' does not offer {pin.Stage} model {pin.Name}/{pin.Version} (it offers {offered}); "
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
