using Muse.Decoding;

namespace Muse.Decoding.Tests;

public sealed class DecodeOptionsTests
{
    [Fact]
    public void Defaults_MatchDocumentedValuesAndAreValid()
    {
        var sut = new DecodeOptions();

        Assert.Equal(12, sut.Steps);
        Assert.Equal(MaskScheduleKind.Cosine, sut.MaskSchedule);
        Assert.Equal(3f, sut.GuidanceScale);
        Assert.Equal(GuidanceSchedule.Constant, sut.GuidanceSchedule);
        Assert.Equal(1f, sut.SamplingTemperature);
        Assert.Equal(4.5f, sut.ChoiceTemperature);
        sut.Validate();
    }

    public static TheoryData<DecodeOptions, string> InvalidOptions() => new()
    {
        { new DecodeOptions { Steps = 0 }, nameof(DecodeOptions.Steps) },
        { new DecodeOptions { Steps = 65 }, nameof(DecodeOptions.Steps) },
        { new DecodeOptions { MaskSchedule = (MaskScheduleKind)99 }, nameof(DecodeOptions.MaskSchedule) },
        { new DecodeOptions { GuidanceScale = -0.5f }, nameof(DecodeOptions.GuidanceScale) },
        { new DecodeOptions { GuidanceScale = 50.5f }, nameof(DecodeOptions.GuidanceScale) },
        { new DecodeOptions { GuidanceScale = float.NaN }, nameof(DecodeOptions.GuidanceScale) },
        { new DecodeOptions { GuidanceScale = float.PositiveInfinity }, nameof(DecodeOptions.GuidanceScale) },
        { new DecodeOptions { GuidanceSchedule = (GuidanceSchedule)7 }, nameof(DecodeOptions.GuidanceSchedule) },
        { new DecodeOptions { SamplingTemperature = -1f }, nameof(DecodeOptions.SamplingTemperature) },
        { new DecodeOptions { SamplingTemperature = 10.5f }, nameof(DecodeOptions.SamplingTemperature) },
        { new DecodeOptions { SamplingTemperature = float.NaN }, nameof(DecodeOptions.SamplingTemperature) },
        { new DecodeOptions { ChoiceTemperature = 51f }, nameof(DecodeOptions.ChoiceTemperature) },
        { new DecodeOptions { ChoiceTemperature = float.NegativeInfinity }, nameof(DecodeOptions.ChoiceTemperature) },
    };

    [Theory]
    [MemberData(nameof(InvalidOptions))]
    public void Validate_OutOfRange_ThrowsNamingTheParameter(DecodeOptions options, string parameter)
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(options.Validate);

        Assert.Equal(parameter, error.ParamName);
    }

    [Fact]
    public void Validate_Limits_AreAccepted()
    {
        new DecodeOptions { Steps = 1, GuidanceScale = 0f, SamplingTemperature = 0f, ChoiceTemperature = 0f }.Validate();
        new DecodeOptions { Steps = 64, GuidanceScale = 50f, SamplingTemperature = 10f, ChoiceTemperature = 50f }.Validate();
    }
}
