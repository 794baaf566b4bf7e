using Microsoft.Extensions.Logging.Abstractions;
using Muse.Hosting;
using Muse.Inference;
using Muse.Repository;
using Muse.Testing;

namespace Muse.Transformer.Tests;

/// <summary>The SR model loaded directly (no host), for tests of what one step sends to the graph.</summary>
public sealed class LoadedSuperResolutionModel : IDisposable
{
    private readonly LoadedModel _loaded;

    public LoadedSuperResolutionModel()
    {
        var (manifest, folder) = ModelRepository.Find(Repo.ModelRepository, TransformerHosts.SuperResolutionModel);
        var options = new InferenceOptions { Providers = [ExecutionProvider.Cpu], IntraOpThreads = 1 };
        _loaded = ModelLoader.Load(manifest, folder, options, NullLogger.Instance);
        Model = TransformerModel.From(_loaded);
    }

    public TransformerModel Model { get; }

    public void Dispose() => _loaded.Dispose();
}

public sealed class StepRunnerTests(LoadedSuperResolutionModel loaded) : IClassFixture<LoadedSuperResolutionModel>
{
    [Theory]
    [InlineData(1f, 3)]
    [InlineData(3f, 6)]
    [InlineData(0f, 6)]
    public void Run_GuidanceScale_RunsUnconditionalRowsOnlyWhenNeeded(float guidanceScale, int expectedRows)
    {
        var sut = new StepRunner(NullLogger<StepRunner>.Instance);
        var session = OpenSession(batch: 3);
        var step = session.ReadStep(Requests.Step(Describe(), Requests.AllMasked(Describe(), 3), guidanceScale: guidanceScale).Step);

        var result = sut.Run(session, step, CancellationToken.None);

        Assert.Equal(expectedRows, result.Rows);
        Assert.Equal(3 * loaded.Model.Length, result.Tokens.Length);
    }

    [Fact]
    public void Run_CancelledToken_ThrowsOperationCanceled()
    {
        var sut = new StepRunner(NullLogger<StepRunner>.Instance);
        var session = OpenSession(batch: 1);
        var step = session.ReadStep(Requests.Step(Describe(), Requests.AllMasked(Describe(), 1)).Step);

        Assert.ThrowsAny<OperationCanceledException>(() => sut.Run(session, step, new CancellationToken(canceled: true)));
    }

    [Fact]
    public void RunGraph_StepsOfSeveralStreamsStacked_GiveEachStepTheLogitsOfItsOwnRun()
    {
        var model = Describe();
        var guided = OpenSession(batch: 2);
        var unguided = DecodeSession.Open(Requests.Conditioning(model, [9], textSeed: 12, lowResSeed: 6), loaded.Model);
        StepRows[] steps =
        [
            StepRunner.Prepare(guided, guided.ReadStep(Requests.Step(model, Requests.AllMasked(model, 2), step: 0, guidanceScale: 3f).Step)),
            StepRunner.Prepare(unguided, unguided.ReadStep(Requests.Step(model, Requests.PartlyMasked(model, 1), step: 5, guidanceScale: 1f).Step)),
        ];

        using var stacked = StepRunner.RunGraph(loaded.Model, steps, CancellationToken.None);

        for (var i = 0; i < steps.Length; i++)
        {
            using var alone = StepRunner.RunGraph(loaded.Model, [steps[i]], CancellationToken.None);
            Assert.Equal(steps[i].Rows * loaded.Model.Length * loaded.Model.CodebookSize, stacked.Of(i).Length);
            Assert.True(alone.Of(0).SequenceEqual(stacked.Of(i)), $"Step {i}'s logits differ when stacked.");
        }
    }

    [Fact]
    public void Rows_Guided_StacksPromptRowsThenNegativeRowsWithEachImagesLowResTokens()
    {
        var session = OpenSession(batch: 2);
        var textSize = session.TextEmbeddings.Length / 2;
        var textLength = session.TextMask.Length / 2;
        var lowResLength = loaded.Model.LowResLength;

        var rows = session.Rows(guided: true);

        Assert.Equal(4, rows.Rows);
        for (var row = 0; row < rows.Rows; row++)
        {
            var (text, image) = (row < 2 ? 0 : 1, row % 2);
            Assert.Equal(session.TextEmbeddings.AsSpan(text * textSize, textSize), rows.TextEmbeddings.AsSpan(row * textSize, textSize));
            Assert.Equal(session.TextMask.AsSpan(text * textLength, textLength), rows.TextMask.AsSpan(row * textLength, textLength));
            Assert.Equal(
                session.LowResTokens.AsSpan(image * lowResLength, lowResLength),
                rows.LowResTokens.AsSpan(row * lowResLength, lowResLength));
        }
    }

    private Protos.V1.ModelDescriptor Describe() => StageInfoService.MapDescriptor(loaded.Model.Manifest);

    private DecodeSession OpenSession(int batch) =>
        DecodeSession.Open(Requests.Conditioning(Describe(), [.. Enumerable.Range(1, batch).Select(s => (ulong)s)]), loaded.Model);
}
