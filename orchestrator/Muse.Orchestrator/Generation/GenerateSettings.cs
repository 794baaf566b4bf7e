using System.Security.Cryptography;
using Muse.Decoding;
using Muse.Hosting;
using Muse.Orchestrator.Pipelines;
using Muse.Protos.V1;

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

        if (request.HasChoiceTemperature)
        {
            MuseValidation.InRange(MuseValidation.Finite(request.ChoiceTemperature), 0f, DecodeOptions.MaxChoiceTemperature, nameof(request.ChoiceTemperature));
        }

        MuseValidation.Require(Enum.IsDefined(request.GuidanceSchedule), "is not a known guidance schedule.", nameof(request.GuidanceSchedule));
        MuseValidation.InRange(request.PreviewEvery, 0, MaskSchedule.MaxSteps);

        var requestId = Guid.NewGuid().ToString("N");
        var models = catalog.Choose(pipeline, requestId);
        var defaults = models.Defaults;
        var common = new DecodeOptions
        {
            MaskSchedule = defaults.MaskSchedule,
            GuidanceScale = request.HasGuidanceScale ? request.GuidanceScale : defaults.GuidanceScale,
            GuidanceSchedule = request.GuidanceSchedule == Protos.V1.GuidanceSchedule.Linear ? Decoding.GuidanceSchedule.Linear : Decoding.GuidanceSchedule.Constant,
            SamplingTemperature = request.HasSamplingTemperature ? request.SamplingTemperature : defaults.SamplingTemperature,
            ChoiceTemperature = request.HasChoiceTemperature ? request.ChoiceTemperature : defaults.ChoiceTemperature,
        };
        return new GenerateSettings(
            requestId,
            request.Prompt,
            request.NegativePrompt,
            request.HasSeed ? request.Seed : RandomSeed(),
            common with { Steps = request.HasBaseSteps ? request.BaseSteps : defaults.BaseSteps },
            common with { Steps = request.HasSrSteps ? request.SrSteps : defaults.SrSteps },
            request.PreviewEvery,
            models);
    }

    // An unset seed gets a fresh one, reported back so the image can be reproduced.
    private static ulong RandomSeed() => BitConverter.ToUInt64(RandomNumberGenerator.GetBytes(8)) >> 1;
}
