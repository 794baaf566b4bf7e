using System.Text.Json;
using Muse.Orchestrator.Generation;
using Muse.Orchestrator.Pipelines;
using Muse.Protos.V1;
using Muse.Repository;

namespace Muse.Orchestrator.Tests;

public sealed class PipelineCatalogTests : IDisposable
{
    private readonly TestRepository _repository = new();

    public void Dispose() => _repository.Dispose();

    [Fact]
    public void Load_CompatiblePipeline_ChoosesOneVersionPerStage()
    {
        var sut = CreateSut(Pipeline(("base", "b", "1", 1)));

        var choice = sut.Choose("p", "request-1");

        Assert.Equal("b/1", choice.Base.Id);
        Assert.Equal("t/1", choice.TextEncoder.Id);
        Assert.Equal("v/1", choice.ImageTokenizer.Id);
        Assert.Equal("s/1", choice.SuperResolution?.Id);
        Assert.Same(choice.SuperResolution, choice.Final);
    }

    [Fact]
    public void Choose_WeightedVersions_SplitsTrafficByWeightAndIsStickyPerRequest()
    {
        _repository.Write(TestRepository.Transformer("b", "2", Stages.Base, 8, 8));
        var sut = CreateSut(Pipeline(("base", "b", "1", 9), ("base", "b", "2", 1)));

        var picks = Enumerable.Range(0, 2000).Select(i => sut.Choose("p", $"request-{i}").Base.Version).ToList();
        var again = Enumerable.Range(0, 2000).Select(i => sut.Choose("p", $"request-{i}").Base.Version).ToList();

        var share = picks.Count(v => v == "2") / 2000.0;
        Assert.InRange(share, 0.07, 0.13);           // 10 % ± 3 points over 2000 requests
        Assert.Equal(picks, again);                  // the same request id always gets the same version
    }

    [Fact]
    public void Load_CodebookMismatch_IsRefusedAtStartUp()
    {
        _repository.Write(TestRepository.Transformer("b", "9", Stages.Base, 8, 8) with { CodebookSize = 1024, MaskTokenId = 1024 });

        var error = Assert.Throws<InvalidDataException>(() => CreateSut(Pipeline(("base", "b", "9", 1))));

        Assert.Contains("codebook", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_PipelineWithoutSuperResolution_ChoosesNoSrAndTheBaseModelMakesTheImage()
    {
        var stages = VersionOneStages();
        stages.Remove(Stages.SuperResolution);
        var sut = CreateSut(new { defaultPipeline = "p", pipelines = new Dictionary<string, object> { ["p"] = new { stages } } });

        var choice = sut.Choose("p", "request-1");

        Assert.Null(choice.SuperResolution);
        Assert.Same(choice.Base, choice.Final);
        Assert.Equal([Stages.TextEncoder, Stages.Base, Stages.ImageTokenizer], choice.Models.Select(m => m.Stage));
    }

    [Fact]
    public void Load_SuperResolutionStageWithNoCandidates_IsRefusedAtStartUp()
    {
        var stages = VersionOneStages();
        stages[Stages.SuperResolution] = [];

        var error = Assert.Throws<InvalidDataException>(() => CreateSut(new { defaultPipeline = "p", pipelines = new Dictionary<string, object> { ["p"] = new { stages } } }));

        Assert.Contains("has no 'sr' model", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_TransformerWithPooledInputAndEncoderWithoutOne_IsRefusedAtStartUp()
    {
        _repository.Write(TestRepository.Transformer("b", "7", Stages.Base, 8, 8) with { PooledEmbeddingDim = 24 });

        var error = Assert.Throws<InvalidDataException>(() => CreateSut(Pipeline(("base", "b", "7", 1))));

        Assert.Contains("expects a pooled text embedding of 24 but t/1 makes 0", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_SuperResolutionGridMismatch_IsRefusedAtStartUp()
    {
        _repository.Write(TestRepository.Transformer("s", "9", Stages.SuperResolution, 16, 16) with { LowResGridHeight = 4, LowResGridWidth = 4 });

        var error = Assert.Throws<InvalidDataException>(() => CreateSut(Pipeline(("sr", "s", "9", 1))));

        Assert.Contains("conditioned on a 4x4 grid", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_TrainedWithAnotherTokenizer_IsRefusedAtStartUp()
    {
        _repository.Write(TestRepository.Transformer("b", "7", Stages.Base, 8, 8) with { ImageTokenizer = "other/1" });

        var error = Assert.Throws<InvalidDataException>(() => CreateSut(Pipeline(("base", "b", "7", 1))));

        Assert.Contains("trained with image tokenizer other/1", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_ModelUnderWrongStage_IsRefused()
    {
        var error = Assert.Throws<InvalidDataException>(() => CreateSut(Pipeline(("base", "s", "1", 1))));

        Assert.Contains("'sr' model, under 'base'", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(null, null, 1f, 0.2f)]  // the pipeline's SR default
    [InlineData(0.5f, null, 0.5f, 0.2f)] // a base temperature leaves the pipeline's SR default alone
    [InlineData(null, 0.7f, 1f, 0.7f)]  // the request's SR temperature wins
    public void FromRequest_PipelineWithSrSamplingTemperature_EachStageGetsItsOwn(float? temperature, float? srTemperature, float expectedBase, float expectedSr)
    {
        var catalog = CreateSut(Pipeline(new { samplingTemperature = 1, srSamplingTemperature = 0.2 }));
        var request = new GenerateRequest { Prompt = "a red circle", Decoding = new DecodingOptions() };
        if (temperature is { } t)
        {
            request.Decoding.SamplingTemperature = t;
        }

        if (srTemperature is { } sr)
        {
            request.Decoding.SrSamplingTemperature = sr;
        }

        var settings = GenerateSettings.FromRequest(request, catalog);

        Assert.Equal((expectedBase, expectedSr), (settings.Decoding.Base.SamplingTemperature, settings.Decoding.SuperResolution.SamplingTemperature));
    }

    [Fact]
    public void FromRequest_PipelineWithoutSrSamplingTemperature_SrFollowsTheBase()
    {
        var catalog = CreateSut(Pipeline(new { samplingTemperature = 1 }));

        var settings = GenerateSettings.FromRequest(new GenerateRequest { Prompt = "a red circle", Decoding = new DecodingOptions { SamplingTemperature = 0.4f } }, catalog);

        Assert.Equal(0.4f, settings.Decoding.SuperResolution.SamplingTemperature);
    }

    [Theory]
    [InlineData(0, 0f)]
    [InlineData(65, 0f)]
    [InlineData(4, float.NaN)]
    public void FromRequest_SameBadDecodingInGenerateAndEdit_SameInvalidArgument(int baseSteps, float guidanceScale)
    {
        var catalog = CreateSut(Pipeline(new { samplingTemperature = 1 }));
        var decoding = new DecodingOptions { BaseSteps = baseSteps, GuidanceScale = guidanceScale };
        var generate = new GenerateRequest { Prompt = "a red circle", Decoding = decoding };
        var edit = new EditRequest { Image = Google.Protobuf.ByteString.CopyFrom(1, 2, 3), Prompt = "a red circle", Decoding = decoding, MaskFree = new MaskFreeEdit() };

        var generateError = Assert.Throws<Grpc.Core.RpcException>(() => GenerateSettings.FromRequest(generate, catalog));
        var editError = Assert.Throws<Grpc.Core.RpcException>(() => EditSettings.FromRequest(edit, catalog));

        Assert.Equal(Grpc.Core.StatusCode.InvalidArgument, generateError.StatusCode);
        Assert.StartsWith("decoding.", generateError.Status.Detail, StringComparison.Ordinal);
        Assert.Equal((generateError.StatusCode, generateError.Status.Detail), (editError.StatusCode, editError.Status.Detail));
    }

    private PipelineCatalog CreateSut(object pipelines)
    {
        File.WriteAllText(_repository.PipelinesPath, JsonSerializer.Serialize(pipelines, ModelManifest.JsonOptions));
        return PipelineCatalog.Load(_repository.PipelinesPath, _repository.Root);
    }

    private static object Pipeline(object defaults) =>
        new { defaultPipeline = "p", pipelines = new Dictionary<string, object> { ["p"] = new { stages = VersionOneStages(), defaults } } };

    private static object Pipeline(params (string Stage, string Model, string Version, double Weight)[] overrides)
    {
        var stages = VersionOneStages();
        foreach (var group in overrides.GroupBy(o => o.Stage))
        {
            stages[group.Key] = group.Select(o => (object)new { model = o.Model, version = o.Version, weight = o.Weight }).ToList();
        }

        return new { defaultPipeline = "p", pipelines = new Dictionary<string, object> { ["p"] = new { stages } } };
    }

    // Version 1 of every stage's model (TestRepository's t/1, v/1, b/1, s/1).
    private static Dictionary<string, List<object>> VersionOneStages() => new()
    {
        [Stages.TextEncoder] = [new { model = "t", version = "1", weight = 1 }],
        [Stages.ImageTokenizer] = [new { model = "v", version = "1", weight = 1 }],
        [Stages.Base] = [new { model = "b", version = "1", weight = 1 }],
        [Stages.SuperResolution] = [new { model = "s", version = "1", weight = 1 }],
    };
}
