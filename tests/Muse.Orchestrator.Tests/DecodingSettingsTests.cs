using Grpc.Core;
using Muse.Repository;
using Muse.Orchestrator.Generation;
using Muse.Protos.V1;

namespace Muse.Orchestrator.Tests;

public sealed class DecodingSettingsTests
{
    private static readonly PipelineDefaults Defaults = new()
    {
        BaseSteps = 16, SrSteps = 8, GuidanceScale = 1.5, SamplingTemperature = 1, SrSamplingTemperature = 0.2, ChoiceTemperature = 1,
    };

    public static TheoryData<DecodingOptions, string> OutOfRange => new()
    {
        { new DecodingOptions { BaseSteps = 0 }, "decoding.base_steps must be in [1, 64]; got 0." },
        { new DecodingOptions { SrSteps = 65 }, "decoding.sr_steps must be in [1, 64]; got 65." },
        { new DecodingOptions { GuidanceScale = float.NaN }, "decoding.guidance_scale must be a finite number; got NaN." },
        { new DecodingOptions { GuidanceScale = -1 }, "decoding.guidance_scale must be in [0, 50]; got -1." },
        { new DecodingOptions { SamplingTemperature = -1 }, "decoding.sampling_temperature must be in [0, 10]; got -1." },
        { new DecodingOptions { SrSamplingTemperature = 11 }, "decoding.sr_sampling_temperature must be in [0, 10]; got 11." },
        { new DecodingOptions { ChoiceTemperature = -0.5f }, "decoding.choice_temperature must be in [0, 50]; got -0.5." },
        { new DecodingOptions { GuidanceSchedule = (GuidanceSchedule)7 }, "decoding.guidance_schedule is not a known guidance schedule." },
    };

    [Theory]
    [MemberData(nameof(OutOfRange))]
    public void FromRequest_OutOfRange_InvalidArgumentNamingTheField(DecodingOptions decoding, string expected)
    {
        var error = Assert.Throws<RpcException>(() => DecodingSettings.FromRequest(decoding, Defaults));

        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Equal(expected, error.Status.Detail);
    }

    [Fact]
    public void FromRequest_Unset_PipelineDefaultsForBothStages()
    {
        var sut = DecodingSettings.FromRequest(null, Defaults);

        Assert.Equal((16, 1.5f, 1f, 1f), (sut.Base.Steps, sut.Base.GuidanceScale, sut.Base.SamplingTemperature, sut.Base.ChoiceTemperature));
        Assert.Equal((8, 1.5f, 0.2f, 1f), (sut.SuperResolution.Steps, sut.SuperResolution.GuidanceScale, sut.SuperResolution.SamplingTemperature, sut.SuperResolution.ChoiceTemperature));
    }

    [Fact]
    public void FromRequest_EveryFieldSet_RequestWinsOverDefaults()
    {
        var decoding = new DecodingOptions
        {
            BaseSteps = 5, SrSteps = 3, GuidanceScale = 2.5f, GuidanceSchedule = GuidanceSchedule.Linear,
            SamplingTemperature = 0.5f, SrSamplingTemperature = 0.25f, ChoiceTemperature = 4f,
        };

        var sut = DecodingSettings.FromRequest(decoding, Defaults);

        Assert.Equal((5, 2.5f, Decoding.GuidanceSchedule.Linear, 0.5f, 4f), (sut.Base.Steps, sut.Base.GuidanceScale, sut.Base.GuidanceSchedule, sut.Base.SamplingTemperature, sut.Base.ChoiceTemperature));
        Assert.Equal((3, 2.5f, Decoding.GuidanceSchedule.Linear, 0.25f, 4f), (sut.SuperResolution.Steps, sut.SuperResolution.GuidanceScale, sut.SuperResolution.GuidanceSchedule, sut.SuperResolution.SamplingTemperature, sut.SuperResolution.ChoiceTemperature));
    }

    [Fact]
    public void FromRequest_Recompete_OffUnlessThePipelineOrTheRequestTurnsItOnPerStage()
    {
        var unset = DecodingSettings.FromRequest(null, Defaults);
        var pipelineOn = DecodingSettings.FromRequest(null, Defaults with { Recompete = true });
        var requestOverrides = DecodingSettings.FromRequest(new DecodingOptions { Recompete = false, SrRecompete = true }, Defaults with { Recompete = true });

        Assert.Equal((false, false), (unset.Base.Recompete, unset.SuperResolution.Recompete));
        Assert.Equal((true, false), (pipelineOn.Base.Recompete, pipelineOn.SuperResolution.Recompete));
        Assert.Equal((false, true), (requestOverrides.Base.Recompete, requestOverrides.SuperResolution.Recompete));
    }
}
