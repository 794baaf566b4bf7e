using Muse.ModelBuilder.Architectures;
using Muse.ModelBuilder.SentencePiece;
using Muse.Repository;

namespace Muse.ModelBuilder;

/// <summary>Text encoder shapes a full-size set can carry.</summary>
public enum TextEncoderShape
{
    /// <summary>T5 v1.1 XXL (the paper's): D 4096, 64 heads, F 10240, 24 layers, 32128 pieces — 4.8 G parameters, 19 GB in fp32.</summary>
    T5Xxl,

    /// <summary>T5 v1.1 Large: D 1024, 16 heads, F 2816, 24 layers — 0.34 G parameters, 1.4 GB in fp32; for CPU machines.</summary>
    T5Large,
}

/// <summary>One paper-shaped configuration: every architecture of a pipeline.</summary>
/// <param name="Name">Config and pipeline name, e.g. <c>muse-632m</c>.</param>
/// <param name="Base">Base transformer: 16×16 tokens (256 px through the f16 tokenizer).</param>
/// <param name="SuperResolution">SR transformer: 64×64 tokens (512 px through the f8 tokenizer) from the 16×16 grid.</param>
/// <param name="VqganF16">The base resolution's tokenizer (256 px ↔ 16×16).</param>
/// <param name="VqganF8">The output tokenizer (512 px ↔ 64×64); the pipeline's image tokenizer.</param>
public sealed record FullSizeConfig(string Name, TransformerConfig Base, TransformerConfig SuperResolution, VqganConfig VqganF16, VqganConfig VqganF8)
{
    /// <summary>The text encoder of <paramref name="shape"/>, with this config's text length.</summary>
    public T5Config TextEncoder(TextEncoderShape shape) => FullSizeModelSet.T5(shape) with { MaxLength = Base.TextMaxLength };

    /// <summary>This config with transformers that read <paramref name="shape"/>'s embedding width.</summary>
    public FullSizeConfig WithTextEncoder(TextEncoderShape shape)
    {
        var width = FullSizeModelSet.T5(shape).DModel;
        return this with { Base = Base with { TextDim = width }, SuperResolution = SuperResolution with { TextDim = width } };
    }
}

/// <summary>
/// Paper-sized Muse model sets with seeded random weights (<c>muse models build-random</c>): the architectures of
/// <see cref="RandomModelSet"/> at the sizes of Chang et al. 2023 (Muse), so loading, memory and per-step cost of
/// full-size models can be measured without trained weights. Weights are streamed to capped external data files.
/// </summary>
/// <remarks>
/// Shapes (models/README.md, "Full-size models"): the paper's 3B base transformer is 48 layers of width 2048, MLP
/// 8192, 16 heads; its 632M base is fitted here to the paper's parameter count with width 1024, MLP 4096, 16 heads
/// and 36 layers (626 M with this layer form: self- and cross-attention plus MLP). Both read T5-XXL embeddings; the
/// SR model (32 layers, width 1024) decodes 64×64 tokens from the 16×16 base grid; both VQGANs have 8192 codes.
/// </remarks>
public static class FullSizeModelSet
{
    /// <summary>Version label of every model of a set.</summary>
    public const string Version = "1";

    /// <summary>Codebook entries of both tokenizers and transformers (the paper's 8192).</summary>
    public const int CodebookSize = 8192;

    /// <summary>Text tokens per prompt.</summary>
    public const int TextMaxLength = 64;

    private static readonly VqganConfig F16 = new() { Channels = [128, 128, 256, 256, 512], EmbedDim = 256, CodebookSize = CodebookSize, Groups = 32 };
    private static readonly VqganConfig F8 = new() { Channels = [128, 256, 256, 512], EmbedDim = 256, CodebookSize = CodebookSize, Groups = 32 };

    private static readonly TransformerConfig Base632M = new()
    {
        CodebookSize = CodebookSize, GridHeight = 16, GridWidth = 16, DModel = 1024, NumHeads = 16, NumLayers = 36, MlpDim = 4096,
        TextDim = 4096, TextMaxLength = TextMaxLength,
    };

    private static readonly TransformerConfig SuperResolution = Base632M with
    {
        GridHeight = 64, GridWidth = 64, LowResGridHeight = 16, LowResGridWidth = 16, NumLayers = 32,
    };

    /// <summary>The configs by name: <c>muse-632m</c> and <c>muse-3b</c>.</summary>
    public static IReadOnlyDictionary<string, FullSizeConfig> Configs { get; } = new Dictionary<string, FullSizeConfig>(StringComparer.Ordinal)
    {
        ["muse-632m"] = new("muse-632m", Base632M, SuperResolution, F16, F8),
        ["muse-3b"] = new("muse-3b", Base632M with { DModel = 2048, NumLayers = 48, MlpDim = 8192 }, SuperResolution, F16, F8),
    };

    /// <summary>The T5 v1.1 encoder shape (vocabulary 32128 as T5's; the set's tokenizer uses the first pieces only).</summary>
    public static T5Config T5(TextEncoderShape shape) => shape switch
    {
        TextEncoderShape.T5Xxl => new() { VocabSize = 32128, DModel = 4096, NumHeads = 64, DFf = 10240, NumLayers = 24, MaxLength = TextMaxLength },
        TextEncoderShape.T5Large => new() { VocabSize = 32128, DModel = 1024, NumHeads = 16, DFf = 2816, NumLayers = 24, MaxLength = TextMaxLength },
        _ => throw new ArgumentOutOfRangeException(nameof(shape)),
    };

    /// <summary>Model name of the text encoder of a set: <c>&lt;config&gt;-t5-xxl</c> or <c>-t5-large</c>.</summary>
    public static string TextEncoderName(string config, TextEncoderShape shape) =>
        $"{config}-{(shape == TextEncoderShape.T5Xxl ? "t5-xxl" : "t5-large")}";

    /// <summary>
    /// Writes the five models of <paramref name="config"/> (text encoder, f16 and f8 tokenizers, base, sr) under
    /// <paramref name="repositoryRoot"/> and its pipeline (text encoder, f8 tokenizer, base, sr) into
    /// <paramref name="pipelinesPath"/>. Only one tensor is in memory at a time.
    /// </summary>
    /// <param name="config">One of <see cref="Configs"/>.</param>
    /// <param name="repositoryRoot">Model repository folder.</param>
    /// <param name="pipelinesPath">pipelines.json to update (other pipelines kept).</param>
    /// <param name="textEncoder">Text encoder shape; the transformers' text width follows it.</param>
    /// <param name="storage">Precision and per-file cap of the external data.</param>
    /// <param name="seed">Seed of every weight; default 1.</param>
    /// <param name="progress">Called before each model is written, with its id.</param>
    public static IReadOnlyList<ExportResult> Write(
        FullSizeConfig config, string repositoryRoot, string pipelinesPath, TextEncoderShape textEncoder, WeightStorage storage,
        ulong seed = 1, Action<string>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        var shaped = config.WithTextEncoder(textEncoder);
        var words = CaptionWords.Default;
        var names = (
            Text: TextEncoderName(config.Name, textEncoder),
            F16: $"{config.Name}-vqgan-f16",
            F8: $"{config.Name}-vqgan-f8",
            Base: $"{config.Name}-base",
            Sr: $"{config.Name}-sr");
        var note = $"Seeded random weights (seed {seed}) in the shape of Muse {config.Name}: for load, memory and speed measurements; its outputs are noise.";

        // One random stream per model, as in the small set, so no two share noise.
        ExportRequest[] requests =
        [
            Request(Stages.TextEncoder, names.Text, shaped.TextEncoder(textEncoder), 1) with { TokenizerModel = SentencePieceModelWriter.Build(words) },
            Request(Stages.ImageTokenizer, names.F16, config.VqganF16, 2),
            Request(Stages.ImageTokenizer, names.F8, config.VqganF8, 3),
            Request(Stages.Base, names.Base, shaped.Base, 4) with { ImageTokenizer = $"{names.F8}/{Version}", TextEncoder = $"{names.Text}/{Version}" },
            Request(Stages.SuperResolution, names.Sr, shaped.SuperResolution, 5) with { ImageTokenizer = $"{names.F8}/{Version}", TextEncoder = $"{names.Text}/{Version}" },
        ];
        var results = new List<ExportResult>();
        foreach (var request in requests)
        {
            progress?.Invoke($"{request.Name}/{request.Version}");
            results.Add(ModelExporter.Export(request, repositoryRoot));
        }

        PipelinesFile.Upsert(pipelinesPath, config.Name, new PipelineDefinition
        {
            Description = $"Muse {config.Name} shapes with seeded random weights and a {names.Text} text encoder: 256 px base (16×16), 512 px output (64×64).",
            Stages = new()
            {
                [Stages.TextEncoder] = [new(names.Text, Version)],
                [Stages.ImageTokenizer] = [new(names.F8, Version)],
                [Stages.Base] = [new(names.Base, Version)],
                [Stages.SuperResolution] = [new(names.Sr, Version)],
            },
            Defaults = new PipelineDefaults { BaseSteps = 24, SrSteps = 8 },   // the paper's step counts
        });
        return results;

        ExportRequest Request(string stage, string name, ArchitectureConfig architecture, ulong stream) => new()
        {
            Stage = stage,
            Name = name,
            Version = Version,
            Config = architecture,
            Weights = RandomWeights.Lazy(WeightSpec.For(architecture), seed, stream),
            Trained = false,
            Description = note,
            Provenance = new Provenance { Source = "random", Seed = seed },
            Storage = storage,
        };
    }
}
