using Muse.ModelBuilder;
using Muse.ModelBuilder.Architectures;
using Muse.ModelBuilder.Graphs;
using Muse.ModelBuilder.Weights;
using Muse.Training.Stages;
using StageNames = Muse.Repository.Stages;
using T5ConfigOfBuilder = Muse.ModelBuilder.Architectures.T5Config;
using TransformerConfigOfBuilder = Muse.ModelBuilder.Architectures.TransformerConfig;
using VqganConfigOfBuilder = Muse.ModelBuilder.Architectures.VqganConfig;

namespace Muse.Training.Tests;

/// <summary>
/// The shipped muse-tiny v5 models (models/repository) read back into the trainer's stage folders, as <c>import</c>
/// does before <c>evaluate</c> and <c>decode-parity</c> run on them. Reads the real shipped files; no libtorch.
/// </summary>
public sealed class ShippedModelsTests
{
    private const string Version = "5";

    private static readonly string Repository = Path.Combine(RepositoryRoot(), "models", "repository");

    [Fact]
    public void Read_ShippedV5_StageFoldersWithTheTrainersNamesAndTheManifestsSizes()
    {
        var stages = ShippedModels.Read(Repository, Version).ToDictionary(s => s.Stage);

        Assert.Equal([VqganTrainer.StageName, TransformerTrainer.BaseStageName, TransformerTrainer.SrStageName], stages.Keys);
        var vqgan = Assert.IsType<VqganConfig>(stages[VqganTrainer.StageName].Configs["config.json"]);
        Assert.Equal([16, 24, 32, 48], vqgan.Channels);
        Assert.Equal((16, 512, 128), (vqgan.EmbedDim, vqgan.CodebookSize, vqgan.PatchDim));
        var textBase = stages[TransformerTrainer.BaseStageName];
        var t5 = Assert.IsType<T5Config>(textBase.Configs["t5.config.json"]);
        var baseConfig = Assert.IsType<TransformerConfig>(textBase.Configs["config.json"]);
        Assert.Equal((64, 2, 32), (t5.DModel, t5.NumLayers, t5.MaxLength));
        Assert.Equal(("base", 128, 4, 256, false), (baseConfig.Role, baseConfig.DModel, baseConfig.NumLayers, baseConfig.MlpDim, baseConfig.IsSuperResolution));
        var sr = Assert.IsType<TransformerConfig>(stages[TransformerTrainer.SrStageName].Configs["config.json"]);
        Assert.Equal(("sr", 64, 3, 8, true), (sr.Role, sr.DModel, sr.NumLayers, sr.LowResGridHeight, sr.AlignedLowRes));
        // The text+base module holds the T5 under "t5." and the base under "base.": each the full weight set of its architecture.
        var t5Names = Names("t5", textBase.StateDict);
        var baseNames = Names("base", textBase.StateDict);
        Assert.Equal(textBase.StateDict.Count, t5Names.Count + baseNames.Count);
        Assert.Equal(Specs(Path.Combine("muse-tiny-t5", Version)), t5Names);
        Assert.Equal(Specs(Path.Combine("muse-tiny-base", Version)), baseNames);
        Assert.Equal(Specs(Path.Combine("muse-tiny-sr", Version)), Shapes(stages[TransformerTrainer.SrStageName].StateDict));
        Assert.Equal(Specs(Path.Combine("muse-tiny-vqgan", Version)), Shapes(stages[VqganTrainer.StageName].StateDict));
        Assert.NotEmpty(textBase.Tokenizer!);
        // metrics.json from the manifests' provenance: a run started from an imported folder counts the training behind it.
        Assert.Equal((9.0, 12000.0, 1728.5), (stages[VqganTrainer.StageName].Metrics["seed"], stages[VqganTrainer.StageName].Metrics["steps"], stages[VqganTrainer.StageName].Metrics["seconds"]));
        Assert.Equal((16000.0, 34000.0, 5305.5), (textBase.Metrics["steps"], textBase.Metrics["textSteps"], textBase.Metrics["textSeconds"]));
        Assert.Equal(0.0034960443153977394, stages[TransformerTrainer.SrStageName].Metrics["heldOutLoss"]);
    }

    [Fact]
    public void Read_Pipeline256_TheV5VqganAndBaseWithTheSrItServes()
    {
        var pipeline = PipelinesFile.Read(Path.Combine(RepositoryRoot(), "models", "pipelines.json"), "muse-tiny-256");

        var stages = ShippedModels.Read(Repository, pipeline, "muse-tiny-256").ToDictionary(s => s.Stage);

        var sr = Assert.IsType<TransformerConfig>(stages[TransformerTrainer.SrStageName].Configs["config.json"]);
        var srVersion = pipeline.Stages[StageNames.SuperResolution].Single().Version;
        Assert.Equal((32, 8), (sr.GridHeight, sr.LowResGridHeight));
        Assert.Equal(Specs(Path.Combine("muse-tiny-sr", srVersion)), Shapes(stages[TransformerTrainer.SrStageName].StateDict));
        Assert.Equal(Specs(Path.Combine("muse-tiny-base", Version)), Names("base", stages[TransformerTrainer.BaseStageName].StateDict));
        Assert.Equal(Specs(Path.Combine("muse-tiny-vqgan", Version)), Shapes(stages[VqganTrainer.StageName].StateDict));
    }

    [Fact]
    public void Read_PipelineWithTwoVersionsAtAStage_NamesTheStage()
    {
        var pipeline = PipelinesFile.Read(Path.Combine(RepositoryRoot(), "models", "pipelines.json"), "muse-tiny");
        var ab = pipeline with
        {
            Stages = new(pipeline.Stages)
            {
                [StageNames.Base] = [new("muse-tiny-base", "4"), new("muse-tiny-base", "5")],
            },
        };

        var error = Assert.Throws<InvalidDataException>(() => ShippedModels.Read(Repository, ab, "ab"));

        Assert.Contains("2 versions at stage base", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ReadPipelinesFile_UnknownPipeline_NamesThoseThere()
    {
        var error = Assert.Throws<InvalidDataException>(() => PipelinesFile.Read(Path.Combine(RepositoryRoot(), "models", "pipelines.json"), "muse-huge"));

        Assert.Contains("no pipeline 'muse-huge'", error.Message, StringComparison.Ordinal);
        Assert.Contains("muse-tiny-256", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("muse-tiny-t5", true)]
    [InlineData("muse-tiny-vqgan", false)]
    [InlineData("muse-tiny-base", true)]
    [InlineData("muse-tiny-sr", true)]
    public void ReadModel_RebuiltByTheBuilder_GivesBackTheShippedInitializers(string model, bool hasSquareLinear)
    {
        // Read, build the graphs again from what was read, read those: the same weights only if every layout the
        // builder applies (Linear [in, out], GroupNorm [C, 1, 1]) was undone, square Linear weights included.
        var dir = Path.Combine(Repository, model, Version);
        var (_, config, weights) = OnnxWeights.ReadModel(dir);
        var rebuilt = Directory.CreateTempSubdirectory("shipped-weights-");
        try
        {
            var paths = config switch
            {
                VqganConfigOfBuilder v => new[]
                {
                    Write(VqganGraphs.BuildEncoder(v, weights), rebuilt.FullName, "encoder.onnx"),
                    Write(VqganGraphs.BuildDecoder(v, weights), rebuilt.FullName, "decoder.onnx"),
                },
                T5ConfigOfBuilder t => [Write(T5EncoderGraph.Build(t, weights), rebuilt.FullName, "model.onnx")],
                TransformerConfigOfBuilder m => [Write(MaskedTransformerGraph.Build(m, weights), rebuilt.FullName, "model.onnx")],
                _ => throw new InvalidOperationException(config.GetType().Name),
            };

            var again = OnnxWeights.Read(paths, WeightSpec.For(config));

            Assert.Equal(weights.Keys.Order(StringComparer.Ordinal), again.Keys.Order(StringComparer.Ordinal));
            Assert.All(weights, w => Assert.Equal(w.Value.Floats, again[w.Key].Floats));
            // A square Linear weight: its shape alone cannot tell whether it was transposed back.
            Assert.Equal(hasSquareLinear, weights.Values.Any(w => w.Shape is [var rows, var columns] && rows == columns));
        }
        finally
        {
            rebuilt.Delete(recursive: true);
        }
    }

    private static string Write(Onnx.ModelProto model, string dir, string name)
    {
        var path = Path.Combine(dir, name);
        OnnxFileWriter.Write(model, path);
        return path;
    }

    private static Dictionary<string, string> Names(string prefix, IReadOnlyDictionary<string, WeightTensor> stateDict) =>
        Shapes(stateDict.Where(e => e.Key.StartsWith(prefix + ".", StringComparison.Ordinal)).ToDictionary(e => e.Key[(prefix.Length + 1)..], e => e.Value));

    private static Dictionary<string, string> Shapes(IReadOnlyDictionary<string, WeightTensor> weights) =>
        weights.ToDictionary(e => e.Key, e => e.Value.ShapeText);

    // The names and PyTorch shapes the builder's architecture expects (models/README.md): what the trainer's modules name.
    private static Dictionary<string, string> Specs(string model)
    {
        var config = OnnxWeights.ReadModel(Path.Combine(Repository, model)).Config;
        return WeightSpec.For(config).ToDictionary(s => s.Name, s => $"[{string.Join(", ", s.Shape)}]");
    }

    private static string RepositoryRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "models", "pipelines.json")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException("models/pipelines.json not found above the test binaries.");
    }
}
