using Muse.Evaluation;
using Muse.Scenes;

namespace Muse.Evaluation.Tests;

public sealed class ModelEvalTests
{
    [Fact]
    public void Psnr_IdenticalImages_IsCapped()
    {
        byte[] image = [1, 2, 3, 4];

        Assert.Equal(100, ModelEval.Psnr(image, image));
    }

    [Fact]
    public void Psnr_KnownError_MatchesHandComputation()
    {
        byte[] expected = [0, 0, 0, 0];
        byte[] actual = [10, 0, 0, 0];   // MSE = 100 / 4 = 25

        var psnr = ModelEval.Psnr(expected, actual);

        Assert.Equal(10 * Math.Log10(255.0 * 255.0 / 25), psnr, 9);
    }

    [Fact]
    public void Psnr_IncludeSelectsPixels()
    {
        byte[] expected = [0, 0, 0, 0, 0, 0];
        byte[] actual = [0, 0, 0, 30, 0, 0];   // pixel 1 differs: MSE over its 3 bytes = 900 / 3

        Assert.Equal(100, ModelEval.Psnr(expected, actual, p => p == 0));
        Assert.Equal(10 * Math.Log10(255.0 * 255.0 / 300), ModelEval.Psnr(expected, actual, p => p == 1), 9);
    }

    [Fact]
    public void Psnr_DifferentSizes_Throws()
    {
        Assert.Throws<ArgumentException>(() => ModelEval.Psnr(new byte[3], new byte[6]));
    }

    [Fact]
    public async Task RunAsync_RandomFixturePipeline_ReportsEveryRequestedPoint()
    {
        var options = new EvalOptions
        {
            Prompts = 1, Scenes = 1, Edits = 1, StepCurve = [1, 2], GuidanceScales = [0f, 3f], BaseSteps = 2, SrSteps = 2, Pipeline = "muse-random",
        };

        var result = await ModelEval.RunAsync(options, CancellationToken.None);

        Assert.False(result.Trained);
        Assert.Equal([1, 2], result.StepCurve.Select(p => p.BaseSteps));
        Assert.Equal([0f, 3f], result.Guidance.Select(p => p.GuidanceScale));
        Assert.All(result.StepCurve.Concat(result.Guidance), p => Assert.Equal(1, p.Prompts));
        Assert.Equal(1, result.AtDefaults.Prompts);
        Assert.InRange(result.VqPsnr64, 1, 100);
        Assert.InRange(result.VqPsnrFinal, 1, 100);
        Assert.True(double.IsFinite(result.SrGain));
        Assert.All([result.Ceiling.Reconstruction, result.Ceiling.SuperResolution, result.Ceiling.Bicubic], t => Assert.Equal(1, t.Prompts));
        Assert.True(result.ImagesPerSecond > 0);
        Assert.Equal(1, result.Inpainting.Cases);
        Assert.InRange(result.Inpainting.PsnrOutsideMask, 1, 100);
        Assert.Equal(1, result.Outpainting.Cases);
        Assert.InRange(result.Outpainting.PsnrOutsideMask, 1, 100);
    }

    [Fact]
    public async Task RunAsync_HardDrawDefaultsOnly_TalliesOneAndTwoObjectPromptsOfTheHardDraw()
    {
        var options = new EvalOptions
        {
            Prompts = 6, Draw = PromptDraw.Hard, Scenes = 1, Edits = 1, StepCurve = [], GuidanceScales = [], SrSteps = 2, Pipeline = "muse-random",
        };
        var prompts = Dataset.HardHeldOutSamples(6, options.Seed + 1);

        var result = await ModelEval.RunAsync(options, CancellationToken.None);

        var point = result.AtDefaults;
        Assert.Empty(result.StepCurve);
        Assert.Empty(result.Guidance);
        Assert.Equal(prompts.Count(p => p.Description.Objects.Count == 1), point.OneObject.Prompts);
        Assert.Equal(prompts.Count(p => p.Description.Objects.Count == 2), point.TwoObjects.Prompts);
        Assert.Equal(6, point.Prompts);
        Assert.Equal(point.Prompts - point.Correct, point.Failures.Count);
        Assert.All(point.Failures, f =>
        {
            Assert.Equal(prompts[f.Index].Caption, f.Caption);
            Assert.NotEmpty(f.Faults);
        });
    }

    [Fact]
    public async Task RunAsync_TrainedPipeline_CheckerReadsMostTrueScenesThroughTheTokenizerAndTheSr()
    {
        // The ceiling rows read images made from the true scenes: the shipped v5 tokenizer and SR keep nearly every
        // one readable (39-40 of 40 at 128 px).
        var options = new EvalOptions { Prompts = 1, Scenes = 6, Edits = 1, StepCurve = [], GuidanceScales = [], Pipeline = "muse-tiny" };

        var result = await ModelEval.RunAsync(options, CancellationToken.None);

        Assert.Equal(128, result.FinalSize);
        Assert.InRange(result.Ceiling.Reconstruction.Correct, 5, 6);
        Assert.InRange(result.Ceiling.SuperResolution.Correct, 5, 6);
        Assert.Equal(6, result.Ceiling.Bicubic.Prompts);
    }
}
