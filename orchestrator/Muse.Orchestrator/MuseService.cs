using System.Security.Cryptography;
using Grpc.Core;
using Muse.Decoding;
using Muse.Hosting;
using Muse.Orchestrator.Generation;
using Muse.Orchestrator.Pipelines;
using Muse.Protos.V1;

namespace Muse.Orchestrator;

/// <summary>The public <c>muse.v1.Muse</c> service.</summary>
public sealed class MuseService(PipelineCatalog catalog, Generator generator, ILogger<MuseService> logger) : Protos.V1.Muse.MuseBase
{
    /// <summary>Longest prompt or negative prompt accepted, in characters (the text encoder's token limit applies too).</summary>
    public const int MaxPromptLength = 1000;

    public override async Task Generate(GenerateRequest request, IServerStreamWriter<GenerateEvent> responseStream, ServerCallContext context)
    {
        var settings = Validate(request);
        var deadline = context.Deadline == DateTime.MaxValue ? (DateTime?)null : context.Deadline;
        OrchestratorLog.RequestAccepted(logger, settings.RequestId, settings.Models.Pipeline, settings.Seed);

        var accepted = new Accepted { RequestId = settings.RequestId, Pipeline = settings.Models.Pipeline, Seed = settings.Seed };
        accepted.Models.AddRange(Generator.StageModels(settings.Models));
        await responseStream.WriteAsync(new GenerateEvent { Accepted = accepted }, context.CancellationToken);

        var result = await generator.GenerateAsync(
            settings, e => responseStream.WriteAsync(e, context.CancellationToken), deadline, context.CancellationToken);
        await responseStream.WriteAsync(new GenerateEvent { Result = result }, context.CancellationToken);
        OrchestratorLog.RequestFinished(logger, settings.RequestId, result.Timings.Last().Milliseconds);
    }

    public override Task<ListModelsReply> ListModels(ListModelsRequest request, ServerCallContext context)
    {
        var reply = new ListModelsReply { DefaultPipeline = catalog.DefaultPipeline };
        var names = catalog.File.Pipelines.Keys.OrderBy(n => n != catalog.DefaultPipeline).ThenBy(n => n, StringComparer.Ordinal);
        reply.Pipelines.AddRange(names.Select(MapPipeline));
        return Task.FromResult(reply);
    }

    private GenerateSettings Validate(GenerateRequest request)
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

    private PipelineInfo MapPipeline(string name)
    {
        var definition = catalog.File.Pipelines[name];
        var info = new PipelineInfo { Name = name, Description = definition.Description };
        foreach (var (stage, candidates) in definition.Stages)
        {
            info.Models.AddRange(candidates.Select(c => new WeightedModel
            {
                Model = new StageModel { Stage = stage, Name = c.Model, Version = c.Version },
                Weight = c.Weight,
            }));
        }

        var sr = catalog.Manifest(definition.Stages[Inference.Stages.SuperResolution][0].Id);
        var vqgan = catalog.Manifest(definition.Stages[Inference.Stages.ImageTokenizer][0].Id);
        info.Width = sr.GridWidth * vqgan.DownsampleFactor;
        info.Height = sr.GridHeight * vqgan.DownsampleFactor;
        info.Trained = definition.Stages.Values.SelectMany(c => c).All(c => catalog.Manifest(c.Id).Trained);
        return info;
    }

    // An unset seed gets a fresh one, reported back so the image can be reproduced.
    private static ulong RandomSeed() => BitConverter.ToUInt64(RandomNumberGenerator.GetBytes(8)) >> 1;
}
