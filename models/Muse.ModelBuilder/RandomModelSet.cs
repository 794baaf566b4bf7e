using Muse.ModelBuilder.Architectures;
using Muse.ModelBuilder.SentencePiece;
using Muse.Repository;

namespace Muse.ModelBuilder;

/// <summary>
/// The shipped seeded-random model set <c>muse-random-*</c>: every stage of the real architectures at a tiny
/// size with deterministic random weights, so services, orchestrator and clients can be tested end to end
/// without trained weights. A test fixture, not a model: its images are noise.
/// </summary>
public static class RandomModelSet
{
    /// <summary>Pipeline name in <c>pipelines.json</c>.</summary>
    public const string PipelineName = "muse-random";

    /// <summary>Version label of every model of the set.</summary>
    public const string Version = "1";

    /// <summary>Text encoder model name.</summary>
    public const string TextEncoderName = "muse-random-t5";

    /// <summary>Image tokenizer model name.</summary>
    public const string ImageTokenizerName = "muse-random-vqgan";

    /// <summary>Base transformer model name.</summary>
    public const string BaseName = "muse-random-base";

    /// <summary>SR transformer model name.</summary>
    public const string SuperResolutionName = "muse-random-sr";

    private const string FixtureNote = "Seeded random weights: a test fixture for the serving stack, not a model; its outputs are noise.";

    /// <summary>Text length L shared by the encoder and both transformers.</summary>
    public const int TextMaxLength = 32;

    /// <summary>Codebook size K shared by the VQGAN and both transformers.</summary>
    public const int CodebookSize = 512;

    // Layer counts and widths inside the models are kept small so the committed set stays near 10 MB; the
    // shapes other components see (K, D, L, grids) are the full fixture contract.

    /// <summary>The VQGAN config of the set.</summary>
    public static VqganConfig Vqgan { get; } = new() { Channels = [32, 64, 64, 64], EmbedDim = 32, CodebookSize = CodebookSize, Groups = 8 };

    /// <summary>The T5 config of the set for a vocabulary of <paramref name="vocabSize"/> pieces.</summary>
    public static T5Config T5(int vocabSize) => new()
    {
        VocabSize = vocabSize, DModel = 128, NumHeads = 4, DFf = 256, NumLayers = 2, NumBuckets = 32, MaxDistance = 64, MaxLength = TextMaxLength,
    };

    /// <summary>The base transformer config of the set: an 8×8 grid (64 px).</summary>
    public static TransformerConfig Base { get; } = new()
    {
        CodebookSize = CodebookSize, GridHeight = 8, GridWidth = 8, DModel = 128, NumHeads = 4, NumLayers = 2, MlpDim = 512,
        TextDim = 128, TextMaxLength = TextMaxLength,
    };

    /// <summary>The SR transformer config of the set: a 16×16 grid (128 px) conditioned on the 8×8 base grid.</summary>
    public static TransformerConfig SuperResolution { get; } = Base with { GridHeight = 16, GridWidth = 16, LowResGridHeight = 8, LowResGridWidth = 8 };

    /// <summary>
    /// Writes the four models under <paramref name="repositoryRoot"/> and the <see cref="PipelineName"/> pipeline
    /// into <paramref name="pipelinesPath"/> (other pipelines kept). Output is byte-identical for a given seed.
    /// </summary>
    /// <param name="repositoryRoot">Model repository, e.g. <c>models/repository</c>.</param>
    /// <param name="pipelinesPath">The <c>pipelines.json</c> to update; null to leave it alone.</param>
    /// <param name="seed">Seed of every weight; default 1.</param>
    /// <param name="vocabulary">Tokenizer words; default <see cref="CaptionWords.Default"/>.</param>
    public static IReadOnlyList<ExportResult> Write(string repositoryRoot, string? pipelinesPath, ulong seed = 1, IEnumerable<string>? vocabulary = null)
    {
        var tokenizer = SentencePieceModelWriter.Build(vocabulary ?? CaptionWords.Default);
        var vocabSize = SentencePieceModelWriter.Pieces(vocabulary ?? CaptionWords.Default).Count;
        var textEncoderId = $"{TextEncoderName}/{Version}";
        var imageTokenizerId = $"{ImageTokenizerName}/{Version}";

        // One random stream per stage, so the stages never share noise.
        ExportRequest[] requests =
        [
            Request(Stages.TextEncoder, TextEncoderName, T5(vocabSize), seed, stream: 1) with { TokenizerModel = tokenizer },
            Request(Stages.ImageTokenizer, ImageTokenizerName, Vqgan, seed, stream: 2),
            Request(Stages.Base, BaseName, Base, seed, stream: 3) with { ImageTokenizer = imageTokenizerId, TextEncoder = textEncoderId },
            Request(Stages.SuperResolution, SuperResolutionName, SuperResolution, seed, stream: 4) with { ImageTokenizer = imageTokenizerId, TextEncoder = textEncoderId },
        ];
        var results = requests.Select(request => ModelExporter.Export(request, repositoryRoot)).ToList();

        if (pipelinesPath is not null)
        {
            PipelinesFile.Upsert(pipelinesPath, PipelineName, new PipelineDefinition
            {
                Description = "Seeded random weights: a test fixture, not a model.",
                Stages = new()
                {
                    [Stages.TextEncoder] = [new(TextEncoderName, Version)],
                    [Stages.ImageTokenizer] = [new(ImageTokenizerName, Version)],
                    [Stages.Base] = [new(BaseName, Version)],
                    [Stages.SuperResolution] = [new(SuperResolutionName, Version)],
                },
            });
        }

        return results;
    }

    private static ExportRequest Request(string stage, string name, ArchitectureConfig config, ulong seed, ulong stream) => new()
    {
        Stage = stage,
        Name = name,
        Version = Version,
        Config = config,
        Weights = RandomWeights.Create(WeightSpec.For(config), seed, stream),
        Trained = false,
        Description = $"{FixtureNote} Seed {seed}.",
        Provenance = new Provenance { Source = "random", Seed = seed },
    };
}
