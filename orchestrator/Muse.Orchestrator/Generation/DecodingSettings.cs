using System.Runtime.CompilerServices;
using Muse.Decoding;
using Muse.Hosting;
using Muse.Repository;
using Muse.Protos.V1;

namespace Muse.Orchestrator.Generation;

/// <summary>
/// The validated <see cref="DecodingOptions"/> of a Generate or Edit request with the pipeline's defaults filled in:
/// the options of the base loop and of the super-resolution loop. Both requests carry the same message, and both
/// go through <see cref="FromRequest"/>, so a value is accepted or refused the same way by either call.
/// </summary>
/// <param name="Base">The base stage's loop.</param>
/// <param name="SuperResolution">The super-resolution stage's loop.</param>
public sealed record DecodingSettings(DecodeOptions Base, DecodeOptions SuperResolution)
{
    /// <summary>
    /// Validates <paramref name="decoding"/> (INVALID_ARGUMENT naming the field, e.g. <c>decoding.base_steps</c>) and
    /// fills what it leaves unset from the pipeline's <paramref name="defaults"/>. Null = every field unset. The SR's
    /// sampling temperature falls back to the pipeline's <c>srSamplingTemperature</c>, then to the base's; each stage's
    /// re-competition to the pipeline's own setting for that stage (off unless the pipeline turns it on).
    /// </summary>
    public static DecodingSettings FromRequest(DecodingOptions? decoding, PipelineDefaults defaults)
    {
        ArgumentNullException.ThrowIfNull(defaults);
        decoding ??= new DecodingOptions();
        if (decoding.HasBaseSteps)
        {
            MuseValidation.InRange(decoding.BaseSteps, 1, MaskSchedule.MaxSteps);
        }

        if (decoding.HasSrSteps)
        {
            MuseValidation.InRange(decoding.SrSteps, 1, MaskSchedule.MaxSteps);
        }

        if (decoding.HasGuidanceScale)
        {
            FiniteUpTo(decoding.GuidanceScale, DecodeOptions.MaxGuidanceScale);
        }

        if (decoding.HasSamplingTemperature)
        {
            FiniteUpTo(decoding.SamplingTemperature, DecodeOptions.MaxSamplingTemperature);
        }

        if (decoding.HasSrSamplingTemperature)
        {
            FiniteUpTo(decoding.SrSamplingTemperature, DecodeOptions.MaxSamplingTemperature);
        }

        if (decoding.HasChoiceTemperature)
        {
            FiniteUpTo(decoding.ChoiceTemperature, DecodeOptions.MaxChoiceTemperature);
        }

        MuseValidation.Require(
            Enum.IsDefined(decoding.GuidanceSchedule), "is not a known guidance schedule.", $"{nameof(decoding)}.{nameof(decoding.GuidanceSchedule)}");

        var common = new DecodeOptions
        {
            MaskSchedule = Enum.Parse<MaskScheduleKind>(defaults.MaskSchedule, ignoreCase: true),
            GuidanceScale = decoding.HasGuidanceScale ? decoding.GuidanceScale : (float)defaults.GuidanceScale,
            GuidanceSchedule = decoding.GuidanceSchedule == Protos.V1.GuidanceSchedule.Linear ? Decoding.GuidanceSchedule.Linear : Decoding.GuidanceSchedule.Constant,
            SamplingTemperature = decoding.HasSamplingTemperature ? decoding.SamplingTemperature : (float)defaults.SamplingTemperature,
            ChoiceTemperature = decoding.HasChoiceTemperature ? decoding.ChoiceTemperature : (float)defaults.ChoiceTemperature,
            ChoiceTemperatureSchedule = Enum.Parse<ChoiceTemperatureSchedule>(defaults.ChoiceTemperatureSchedule, ignoreCase: true),
        };
        return new DecodingSettings(
            common with
            {
                Steps = decoding.HasBaseSteps ? decoding.BaseSteps : defaults.BaseSteps,
                Recompete = decoding.HasRecompete ? decoding.Recompete : defaults.Recompete,
            },
            common with
            {
                Steps = decoding.HasSrSteps ? decoding.SrSteps : defaults.SrSteps,
                Recompete = decoding.HasSrRecompete ? decoding.SrRecompete : defaults.SrRecompete,
                SamplingTemperature = decoding.HasSrSamplingTemperature ? decoding.SrSamplingTemperature
                    : defaults.SrSamplingTemperature is { } sr ? (float)sr
                    : common.SamplingTemperature,
            });
    }

    // Guidance scale and temperatures: a finite number from 0 to max (NaN and infinities fail first, with their own message).
    private static void FiniteUpTo(float value, float max, [CallerArgumentExpression(nameof(value))] string? field = null) =>
        MuseValidation.InRange(MuseValidation.Finite(value, field), 0f, max, field);
}
