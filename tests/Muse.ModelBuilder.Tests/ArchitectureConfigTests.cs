using Muse.ModelBuilder.Architectures;

namespace Muse.ModelBuilder.Tests;

public sealed class ArchitectureConfigTests
{
    [Fact]
    public void Parse_KindAfterOtherFields_ReadsTransformer()
    {
        var json = """
            { "codebookSize": 512, "gridHeight": 16, "gridWidth": 16, "dModel": 128, "numHeads": 4, "numLayers": 4,
              "mlpDim": 512, "textDim": 128, "textMaxLength": 32, "lowResGridHeight": 8, "lowResGridWidth": 8, "kind": "transformer" }
            """;

        var config = Assert.IsType<TransformerConfig>(ArchitectureConfig.Parse(json));

        Assert.True(config.IsSuperResolution);
        Assert.Equal(512, config.MaskTokenId);
        Assert.Equal(1e-5, config.Eps);
    }

    [Fact]
    public void ToJson_ThenParse_RoundTripsEveryKind()
    {
        ArchitectureConfig[] configs = [TestData.TinyT5, TestData.TinyVqgan, TestData.TinyVqgan with { PatchDim = 24 }, TestData.TinyBase, TestData.TinySuperResolution];

        foreach (var config in configs)
        {
            var json = config.ToJson();
            var parsed = ArchitectureConfig.Parse(json);

            Assert.StartsWith("{\n  \"kind\":", json.ReplaceLineEndings("\n"), StringComparison.Ordinal);
            Assert.Equal(config, parsed);
        }
    }

    [Fact]
    public void VqganToJson_ConvolutionalEncoder_WritesNoPatchDim()
    {
        Assert.DoesNotContain("patchDim", TestData.TinyVqgan.ToJson(), StringComparison.Ordinal);
        Assert.NotEqual(TestData.TinyVqgan, TestData.TinyVqgan with { PatchDim = 24 });
    }

    [Fact]
    public void Parse_UnknownKind_ThrowsInvalidData()
    {
        Assert.Throws<InvalidDataException>(() => ArchitectureConfig.Parse("""{ "kind": "unet", "channels": [1] }"""));
    }

    [Fact]
    public void Parse_HeadsNotDividingWidth_ThrowsInvalidData()
    {
        var json = """{ "kind": "t5", "vocabSize": 100, "dModel": 10, "numHeads": 3, "dFf": 20, "numLayers": 1, "maxLength": 8 }""";

        var error = Assert.Throws<InvalidDataException>(() => ArchitectureConfig.Parse(json));

        Assert.Contains("numHeads", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_AlignedLowResOnBaseOrUnevenGrid_ThrowsInvalidData()
    {
        var onBase = TestData.TinyBase with { AlignedLowRes = true };
        var uneven = TestData.TinySuperResolution with { GridHeight = 6, AlignedLowRes = true };

        var baseError = Assert.Throws<InvalidDataException>(onBase.Validate);
        Assert.Throws<InvalidDataException>(uneven.Validate);
        Assert.Contains("alignedLowRes", baseError.Message, StringComparison.Ordinal);
    }
}
