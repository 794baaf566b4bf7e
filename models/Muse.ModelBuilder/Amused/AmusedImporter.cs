using System.Text.Json;
using Muse.ModelBuilder.Architectures;
using Muse.ModelBuilder.Graphs;
using Muse.Repository;
using Onnx;

namespace Muse.ModelBuilder.Amused;

/// <summary>
/// Imports a downloaded aMUSEd folder (<see cref="AmusedCheckpoint"/>) into a model repository as three stage models
/// and one pipeline without super-resolution: <c>&lt;name&gt;-clip</c> (text encoder: CLIP graph + tokenizer folder),
/// <c>&lt;name&gt;-vqgan</c> (image tokenizer), <c>&lt;name&gt;-base</c> (the U-ViT with the base stage's token contract),
/// all at the same version, and pipeline <c>&lt;name&gt;</c> with aMUSEd's decoding defaults.
/// </summary>
public static class AmusedImporter
{
    /// <summary>Text tokens per sequence: aMUSEd always pads to CLIP's context length.</summary>
    public const int TextLength = 77;

    /// <summary>Folder of the CLIP tokenizer files inside the text encoder's version folder.</summary>
    public const string TokenizerFolder = "tokenizer";

    // Files of the diffusers tokenizer folder the CLIP tokenizer reads.
    private static readonly string[] TokenizerFiles = ["vocab.json", "merges.txt", "special_tokens_map.json", "tokenizer_config.json"];

    /// <summary>
    /// aMUSEd's own sampling settings (diffusers <c>AmusedPipeline</c> and <c>AmusedScheduler</c>): 12 steps, guidance 10,
    /// cosine mask counts in float32, re-masking noise <c>linspace(2, 0, T)</c>.
    /// </summary>
    public static PipelineDefaults Defaults { get; } = new()
    {
        BaseSteps = 12,
        GuidanceScale = 10,
        SamplingTemperature = 1,
        ChoiceTemperature = 2,
        ChoiceTemperatureSchedule = "linear",
        MaskSchedule = "amusedCosine",
    };

    /// <summary>
    /// Reads and checks every component of <paramref name="checkpoint"/> first (so a bad folder writes nothing), then
    /// writes the three models under <paramref name="repository"/> and upserts pipeline <paramref name="name"/> in
    /// <paramref name="pipelinesPath"/> (created if missing).
    /// </summary>
    /// <param name="checkpoint">The aMUSEd folder.</param>
    /// <param name="repository">Model repository written into.</param>
    /// <param name="pipelinesPath">pipelines.json to update.</param>
    /// <param name="name">Pipeline name and model name prefix.</param>
    /// <param name="version">Version of the three models.</param>
    /// <param name="maxFileBytes">Cap of each external data file; weights stream into them as each graph is built.</param>
    /// <exception cref="InvalidDataException">A component is missing, mis-shaped or incompatible with another.</exception>
    public static IReadOnlyList<ExportResult> Import(string checkpoint, string repository, string pipelinesPath, string name, string version,
        long maxFileBytes = ExternalDataWriter.DefaultMaxFileBytes)
    {
        var (textConfig, textWeights) = AmusedCheckpoint.TextEncoder(checkpoint);
        var (vqConfig, vqWeights) = AmusedCheckpoint.Vqvae(checkpoint);
        var (uvitConfig, uvitWeights) = AmusedCheckpoint.Transformer(checkpoint);
        var tokenizer = Path.Combine(checkpoint, "tokenizer");
        Require(TokenizerFiles.Take(2).All(f => File.Exists(Path.Combine(tokenizer, f))), $"{tokenizer} needs vocab.json and merges.txt.");
        Require(uvitConfig.CodebookSize == vqConfig.CodebookSize,
            $"the transformer's codebook_size {uvitConfig.CodebookSize} differs from the VQ-GAN's num_vq_embeddings {vqConfig.CodebookSize}.");
        Require(uvitConfig.EncoderHidden == textConfig.Hidden,
            $"the transformer's encoder_hidden_size {uvitConfig.EncoderHidden} differs from the text encoder's hidden_size {textConfig.Hidden}.");
        Require(uvitConfig.CondEmbedDim == textConfig.ProjectionDim,
            $"the transformer's cond_embed_dim {uvitConfig.CondEmbedDim} differs from the text encoder's projection_dim {textConfig.ProjectionDim}.");

        var provenance = new Provenance { Source = "amused" };
        var source = Path.GetFullPath(checkpoint);
        var text = Manifest(name + "-clip", version, Stages.TextEncoder, $"aMUSEd CLIP text encoder from {source}.", textConfig, provenance) with
        {
            Files = new() { ["model"] = ModelExporter.ModelFileName, ["tokenizer"] = TokenizerFolder },
            Inputs = new() { ["input_ids"] = ClipTextGraph.InputIds },
            Outputs = new() { ["last_hidden_state"] = ClipTextGraph.Penultimate, ["pooled"] = ClipTextGraph.TextEmbeds },
            TextEmbeddingDim = textConfig.Hidden,
            TextMaxLength = TextLength,
            TextTokenizer = ModelManifest.ClipTokenizerKind,
            PooledEmbeddingDim = textConfig.ProjectionDim,
        };
        var vq = Manifest(name + "-vqgan", version, Stages.ImageTokenizer, $"aMUSEd VQ-GAN from {source}.", vqConfig, provenance) with
        {
            Files = new() { ["encoder"] = ModelExporter.EncoderFileName, ["decoder"] = ModelExporter.DecoderFileName },
            Inputs = new() { ["encoder.image"] = VqganGraphs.Image, ["decoder.tokens"] = VqganGraphs.Tokens },
            Outputs = new() { ["encoder.tokens"] = VqganGraphs.Tokens, ["decoder.image"] = VqganGraphs.Image },
            CodebookSize = vqConfig.CodebookSize,
            DownsampleFactor = vqConfig.DownsampleFactor,
        };
        var uvit = Manifest(name + "-base", version, Stages.Base, $"aMUSEd U-ViT from {source}.", uvitConfig, provenance) with
        {
            Files = new() { ["model"] = ModelExporter.ModelFileName },
            Inputs = new()
            {
                ["tokens"] = UVitGraph.StageTokens,
                ["text_embeddings"] = UVitGraph.EncoderHiddenStates,
                ["pooled_text_embeddings"] = UVitGraph.PooledTextEmb,
                ["micro_conditions"] = UVitGraph.MicroConds,
            },
            Outputs = new() { ["logits"] = UVitGraph.Logits },
            CodebookSize = uvitConfig.CodebookSize,
            MaskTokenId = uvitConfig.CodebookSize,
            GridHeight = uvitConfig.SampleSize,
            GridWidth = uvitConfig.SampleSize,
            TextEmbeddingDim = uvitConfig.EncoderHidden,
            TextMaxLength = TextLength,
            PooledEmbeddingDim = uvitConfig.CondEmbedDim,
            ImageTokenizer = $"{name}-vqgan/{version}",
            TextEncoder = $"{name}-clip/{version}",
        };

        var results = new List<ExportResult>
        {
            Write(text, repository, maxFileBytes, [(ModelExporter.ModelFileName, data => ClipTextGraph.Build(textConfig, textWeights, TextLength, data))], directory =>
            {
                var target = Path.Combine(directory, TokenizerFolder);
                Directory.CreateDirectory(target);
                return TokenizerFiles.Where(f => File.Exists(Path.Combine(tokenizer, f))).Select(f =>
                {
                    File.Copy(Path.Combine(tokenizer, f), Path.Combine(target, f), overwrite: true);
                    return Path.Combine(TokenizerFolder, f);
                }).ToList();
            }),
            Write(vq, repository, maxFileBytes,
            [
                (ModelExporter.EncoderFileName, data => AmusedVqGraphs.BuildEncoder(vqConfig, vqWeights, externalData: data)),
                (ModelExporter.DecoderFileName, data => AmusedVqGraphs.BuildDecoder(vqConfig, vqWeights, data)),
            ]),
            Write(uvit, repository, maxFileBytes, [(ModelExporter.ModelFileName, data => UVitGraph.BuildForStage(uvitConfig, uvitWeights, TextLength, data))]),
        };

        PipelinesFile.Upsert(pipelinesPath, name, new PipelineDefinition
        {
            Description = $"aMUSEd imported from {source}: CLIP text encoder, VQ-GAN, U-ViT; no super-resolution stage.",
            Stages = new()
            {
                [Stages.TextEncoder] = [new(text.Name, version)],
                [Stages.ImageTokenizer] = [new(vq.Name, version)],
                [Stages.Base] = [new(uvit.Name, version)],
            },
            Defaults = Defaults with { MicroConditions = MicroConditions(uvitConfig.SampleSize * vqConfig.DownsampleFactor) },
        });
        return results;
    }

    /// <summary>
    /// What diffusers' <c>AmusedPipeline</c> sends by default for a <paramref name="size"/>² image: original size
    /// (width, height), crop top-left (0, 0), aesthetic score 6.
    /// </summary>
    public static float[] MicroConditions(int size) => [size, size, 0, 0, 6];

    private static ModelManifest Manifest(string name, string version, string stage, string description, object config, Provenance provenance) => new()
    {
        Name = name,
        Version = version,
        Stage = stage,
        Description = description,
        Trained = true,
        Provenance = provenance,
        Architecture = JsonSerializer.SerializeToElement(config, config.GetType(), ModelManifest.JsonOptions),
    };

    // Graphs are built one at a time with their weights streamed to capped data files as read (lazily) from the
    // checkpoint, so neither a whole component nor a graph's weights are held in memory.
    private static ExportResult Write(ModelManifest manifest, string repository, long maxFileBytes,
        IReadOnlyList<(string File, Func<ExternalDataWriter, ModelProto> Build)> graphs,
        Func<string, IReadOnlyList<string>>? extra = null)
    {
        manifest.Validate(manifest.Id);
        var directory = Path.Combine(repository, manifest.Name, manifest.Version);
        Directory.CreateDirectory(directory);
        var files = new List<string>();
        foreach (var (file, build) in graphs)
        {
            files.AddRange(ExternalDataWriter.WriteModel(Path.Combine(directory, file), build, maxFileBytes: maxFileBytes).Files);
        }

        files.AddRange(extra?.Invoke(directory) ?? []);
        files.Add(ModelExporter.WriteManifest(manifest, directory));
        return new ExportResult(manifest, directory, files);
    }

    private static void Require(bool condition, string message)
    {
        if (!condition)
        {
            throw new InvalidDataException($"Cannot import: {message}");
        }
    }
}
