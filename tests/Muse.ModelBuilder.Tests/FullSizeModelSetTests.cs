using Muse.ModelBuilder.Architectures;
using Muse.ModelBuilder.Graphs;
using Muse.ModelBuilder.Weights;
using Muse.Repository;

namespace Muse.ModelBuilder.Tests;

/// <summary>
/// The full-size path at test size: the same streamed export, lazy seeded weights, capped multi-file external data
/// and fp16 storage the paper-sized sets use, on the small set's shapes, loaded in ONNX Runtime.
/// </summary>
public sealed class FullSizeModelSetTests
{
    // A cap far below the model's ~3 MB, so its data must span several files.
    private const long SmallFileCap = 256 << 10;

    private static readonly TransformerConfig Config = RandomModelSet.SuperResolution;

    [Fact]
    public void Export_StreamedAcrossSeveralFiles_RunsExactlyLikeTheInMemoryExport()
    {
        using var directory = new TempDirectory();

        var inMemory = Export(directory.Path, "inline", RandomWeights.Create(WeightSpec.For(Config), 3, 4), storage: null);
        var streamed = Export(directory.Path, "streamed", RandomWeights.Lazy(WeightSpec.For(Config), 3, 4), new WeightStorage(MaxFileBytes: SmallFileCap));

        var dataFiles = streamed.Files.Where(f => f.StartsWith("model.onnx.data", StringComparison.Ordinal)).ToList();
        Assert.True(dataFiles.Count >= 3, $"expected several data files, got {string.Join(", ", dataFiles)}");
        Assert.All(dataFiles, f => Assert.True(new FileInfo(Path.Combine(streamed.Directory, f)).Length <= SmallFileCap || IsSingleTensorFile(streamed, f)));
        Assert.Equal(TransformerFlops.Parameters(Config) * sizeof(float), streamed.Manifest.WeightBytes, tolerance: 0.01 * streamed.Manifest.WeightBytes);
        Assert.Equal(Logits(inMemory), Logits(streamed));
        Assert.Equal(
            OnnxWeights.ReadModel(inMemory.Directory).Weights["layers.1.mlp.fc1.weight"].Floats,
            OnnxWeights.ReadModel(streamed.Directory).Weights["layers.1.mlp.fc1.weight"].Floats);
    }

    [Fact]
    public void Export_Fp16_HalvesTheDataAndStaysCloseToFp32()
    {
        using var directory = new TempDirectory();
        var weights = RandomWeights.Lazy(WeightSpec.For(Config), 3, 4);

        var fp32 = Export(directory.Path, "fp32", weights, new WeightStorage());
        var fp16 = Export(directory.Path, "fp16", weights, new WeightStorage(WeightPrecision.Fp16));

        var ratio = DataBytes(fp16) / (double)DataBytes(fp32);
        Assert.InRange(ratio, 0.49, 0.52);
        Assert.Equal(fp32.Manifest.WeightBytes, fp16.Manifest.WeightBytes, tolerance: 0.01 * fp32.Manifest.WeightBytes);   // loaded as fp32 either way
        var (a, b) = (Logits(fp32), Logits(fp16));
        var scale = a.Max(Math.Abs);
        var worst = a.Zip(b, (x, y) => Math.Abs(x - y)).Max();
        Assert.True(worst < 0.02 * scale, $"fp16 storage moved a logit by {worst} (scale {scale})");
        Assert.NotEqual(a, b);   // the fp16 rounding is really there
        var original = weights["layers.0.mlp.fc1.weight"].Floats;
        var readBack = OnnxWeights.ReadModel(fp16.Directory).Weights["layers.0.mlp.fc1.weight"].Floats;   // [out, in] again
        Assert.Equal(original.Select(v => (float)(Half)v), readBack);
    }

    [Fact]
    public void Lazy_SameSeed_EqualsEagerWeights()
    {
        var specs = WeightSpec.For(RandomModelSet.Base);

        var eager = RandomWeights.Create(specs, 9, 2);
        var lazy = RandomWeights.Lazy(specs, 9, 2);

        Assert.All(specs, spec => Assert.Equal(eager[spec.Name].Floats, lazy[spec.Name].Floats));
    }

    [Fact]
    public void VqganF16_SixteenPixelsPerToken_EncodesAndDecodes()
    {
        var config = new VqganConfig { Channels = [8, 8, 16, 16, 16], EmbedDim = 8, CodebookSize = 32, Groups = 8 };
        var weights = RandomWeights.Create(WeightSpec.For(config), 1, 1);
        var image = TestData.Normal(3 * 64 * 64, 5, 0.5);

        var tokens = Ort.Run(VqganGraphs.BuildEncoder(config, weights), new Dictionary<string, TestTensor> { [VqganGraphs.Image] = TestTensor.Of(image, 1, 3, 64, 64) })[VqganGraphs.Tokens];
        var decoded = Ort.Run(VqganGraphs.BuildDecoder(config, weights), new Dictionary<string, TestTensor> { [VqganGraphs.Tokens] = tokens })[VqganGraphs.Image];

        Assert.Equal(16, config.DownsampleFactor);
        Assert.Equal([1L, 4, 4], tokens.Shape);
        Assert.All(tokens.L, t => Assert.InRange(t, 0, 31));
        Assert.Equal([1L, 3, 64, 64], decoded.Shape);
    }

    [Fact]
    public void Configs_PaperSizes_HaveThePapersParameterCounts()
    {
        var muse632m = FullSizeModelSet.Configs["muse-632m"];
        var muse3b = FullSizeModelSet.Configs["muse-3b"];

        Assert.InRange(TransformerFlops.Parameters(muse632m.Base) / 1e6, 632 * 0.98, 632 * 1.02);
        Assert.InRange(TransformerFlops.Parameters(muse3b.Base) / 1e9, 3.0, 3.3);
        Assert.InRange(TransformerFlops.Parameters(FullSizeModelSet.T5(TextEncoderShape.T5Xxl)) / 1e9, 4.70, 4.80);   // T5-XXL's encoder
        Assert.Equal(4096, muse632m.Base.TextDim);
        Assert.Equal(1024, muse632m.WithTextEncoder(TextEncoderShape.T5Large).Base.TextDim);
        Assert.Equal((256, 4096), (muse632m.Base.GridTokens, muse632m.SuperResolution.GridTokens));
        Assert.Equal((16, 8), (muse632m.VqganF16.DownsampleFactor, muse632m.VqganF8.DownsampleFactor));
    }

    [Fact]
    public void PerSequence_PaperBase_IsTwoFlopsPerParameterPerTokenPlusAttention()
    {
        var config = FullSizeModelSet.Configs["muse-632m"].Base;
        var parameterFlops = 2.0 * TransformerFlops.Parameters(config) * config.GridTokens;

        var flops = TransformerFlops.PerSequence(config);

        // Within 10 % of the 2·P·N rule: embeddings cost no FLOPs and the text projection and the cross-attention keys
        // and values see only the 64 text tokens (−11 %), while attention over 256 tokens adds 4 %.
        Assert.InRange(flops / parameterFlops, 0.90, 0.95);
    }

    private static ExportResult Export(string root, string name, IReadOnlyDictionary<string, WeightTensor> weights, WeightStorage? storage) =>
        ModelExporter.Export(
            new ExportRequest { Stage = Stages.SuperResolution, Name = name, Version = "1", Config = Config, Weights = weights, Storage = storage },
            root);

    private static long DataBytes(ExportResult result) =>
        result.Files.Where(f => f.Contains(".data", StringComparison.Ordinal)).Sum(f => new FileInfo(Path.Combine(result.Directory, f)).Length);

    private static bool IsSingleTensorFile(ExportResult result, string file) =>
        new FileInfo(Path.Combine(result.Directory, file)).Length > SmallFileCap;

    private static float[] Logits(ExportResult result)
    {
        var inputs = new Dictionary<string, TestTensor>
        {
            [MaskedTransformerGraph.Tokens] = TestTensor.Of(TestData.Ids(2 * Config.GridTokens, 1, Config.CodebookSize + 1), 2, Config.GridTokens),
            [MaskedTransformerGraph.TextEmbeddings] = TestTensor.Of(TestData.Normal(2 * Config.TextMaxLength * Config.TextDim, 2), 2, Config.TextMaxLength, Config.TextDim),
            [MaskedTransformerGraph.TextMask] = TestTensor.Of(Enumerable.Repeat(1f, 2 * Config.TextMaxLength).ToArray(), 2, Config.TextMaxLength),
            [MaskedTransformerGraph.LowResTokens] = TestTensor.Of(TestData.Ids(2 * Config.LowResTokens, 3, Config.CodebookSize), 2, Config.LowResTokens),
        };
        return Ort.RunFile(Path.Combine(result.Directory, ModelExporter.ModelFileName), inputs)[MaskedTransformerGraph.Logits].F;
    }
}
