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
        { new DecodeOptions { ChoiceTemperatureSchedule = (ChoiceTemperatureSchedule)5 }, nameof(DecodeOptions.ChoiceTemperatureSchedule) },
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

    [Fact]
    public void ChoiceTemperatureAt_Linear_IsAmusedLinspaceFromCToZero()
    {
        var options = new DecodeOptions { Steps = 12, ChoiceTemperature = 2f, ChoiceTemperatureSchedule = ChoiceTemperatureSchedule.Linear };
        var schedule = options.CreateSchedule();

        // torch.linspace(2, 0, 12)
        double[] expected = [2, 1.8182, 1.6364, 1.4545, 1.2727, 1.0909, 0.9091, 0.7273, 0.5455, 0.3636, 0.1818, 0];
        Assert.Equal(expected, Enumerable.Range(0, 12).Select(t => Math.Round(options.ChoiceTemperatureAt(t, schedule), 4)));
        Assert.Equal(2, (options with { Steps = 1 }).ChoiceTemperatureAt(0, new MaskSchedule(MaskScheduleKind.Cosine, 1)));
    }

    [Fact]
    public void ChoiceTemperatureAt_MaskGit_AnnealsByNextRatio()
    {
        var options = new DecodeOptions { Steps = 4, ChoiceTemperature = 4f };
        var schedule = options.CreateSchedule();

        Assert.Equal([3.0, 2.0, 1.0, 0.0], Enumerable.Range(0, 4).Select(t => options.ChoiceTemperatureAt(t, schedule)));
    }
}
