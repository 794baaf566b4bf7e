using Muse.ModelBuilder.Architectures;
using Muse.ModelBuilder.Graphs;
using Muse.ModelBuilder.Weights;
using Muse.Repository;

namespace Muse.ModelBuilder;

/// <summary>What to export: one model version of one stage, its weights and what the manifest must say.</summary>
public sealed record ExportRequest
{
    /// <summary>One of <see cref="Stages"/>; must agree with the config (t5 → text_encoder, vqgan → image_tokenizer, transformer → base or sr).</summary>
    public required string Stage { get; init; }

    /// <summary>Model name, e.g. <c>muse-tiny-base</c>.</summary>
    public required string Name { get; init; }

    /// <summary>Version label, e.g. <c>1</c>.</summary>
    public required string Version { get; init; }

    /// <summary>Architecture hyper-parameters; stored in the manifest's <c>architecture</c>.</summary>
    public required ArchitectureConfig Config { get; init; }

    /// <summary>Weights by name in PyTorch layout (models/README.md); checked against the architecture.</summary>
    public required IReadOnlyDictionary<string, WeightTensor> Weights { get; init; }

    /// <summary>Where the weights came from; default: a <c>random</c> source with seed 0.</summary>
    public Provenance Provenance { get; init; } = new();

    /// <summary>True for trained weights; default false.</summary>
    public bool Trained { get; init; }

    /// <summary>Free text for the manifest; default empty.</summary>
    public string Description { get; init; } = "";

    /// <summary>Serialized SentencePiece model; required for the text encoder, ignored elsewhere.</summary>
    public byte[]? TokenizerModel { get; init; }

    /// <summary><c>name/version</c> of the image tokenizer a transformer was trained with; default empty.</summary>
    public string ImageTokenizer { get; init; } = "";

    /// <summary><c>name/version</c> of the text encoder a transformer was trained with; default empty.</summary>
    public string TextEncoder { get; init; } = "";

    /// <summary>
    /// How to store weights too large to build in memory: streamed into capped external data files as each graph is
    /// built, fp32 or fp16. Null (default): the graph is built in memory and its data split off when written.
    /// </summary>
    public WeightStorage? Storage { get; init; }
}

/// <summary>Streamed weight storage of an export (<see cref="ExportRequest.Storage"/>).</summary>
/// <param name="Precision">fp32 or fp16 (fp16 is stored behind a Cast; arithmetic stays fp32).</param>
/// <param name="MaxFileBytes">Per data file cap; a graph's data spans as many files as it needs.</param>
public sealed record WeightStorage(WeightPrecision Precision = WeightPrecision.Fp32, long MaxFileBytes = ExternalDataWriter.DefaultMaxFileBytes);

/// <summary>The result of <see cref="ModelExporter.Export"/>.</summary>
/// <param name="Manifest">The manifest written (already validated).</param>
/// <param name="Directory">The version folder, <c>&lt;repository&gt;/&lt;name&gt;/&lt;version&gt;</c>.</param>
/// <param name="Files">Every file written, relative to <paramref name="Directory"/>.</param>
public sealed record ExportResult(ModelManifest Manifest, string Directory, IReadOnlyList<string> Files);

/// <summary>
/// Writes one model version into a model repository: the ONNX graph(s) with external data, the tokenizer
/// when there is one, and <c>manifest.json</c>. Used by the builder's CLI and by the trainer.
/// </summary>
public static class ModelExporter
{
    /// <summary>File name of the manifest in a version folder.</summary>
    public const string ManifestFileName = "manifest.json";

    /// <summary>ONNX file of the text encoder, base and sr models.</summary>
    public const string ModelFileName = "model.onnx";

    /// <summary>ONNX file of the VQGAN encoder.</summary>
    public const string EncoderFileName = "encoder.onnx";

    /// <summary>ONNX file of the VQGAN decoder.</summary>
    public const string DecoderFileName = "decoder.onnx";

    /// <summary>SentencePiece model of the text encoder.</summary>
    public const string TokenizerFileName = "spiece.model";

    /// <summary>
    /// Builds and writes <paramref name="request"/> under <c>&lt;repositoryRoot&gt;/&lt;name&gt;/&lt;version&gt;</c>,
    /// replacing files of the same names. The weights are validated first, so a mismatch writes nothing.
    /// </summary>
    /// <exception cref="InvalidDataException">Weights, config and stage do not agree.</exception>
    public static ExportResult Export(ExportRequest request, string repositoryRoot)
    {
        var specs = WeightSpec.For(request.Config);
        request.Config.Validate();
        WeightSpec.Validate(specs, request.Weights);
        var directory = Path.Combine(repositoryRoot, request.Name, request.Version);
        var manifest = request.Config switch
        {
            T5Config t5 => TextEncoderManifest(request, t5),
            VqganConfig vqgan => ImageTokenizerManifest(request, vqgan),
            TransformerConfig transformer => TransformerManifest(request, transformer),
            _ => throw new InvalidDataException($"Unknown architecture {request.Config.GetType().Name}."),
        };
        manifest.Validate($"{request.Name}/{request.Version}");

        Directory.CreateDirectory(directory);
        var files = new List<string>();
        var weightBytes = 0L;
        IReadOnlyList<string> Write(string fileName, Func<ExternalDataWriter?, Onnx.ModelProto> build)
        {
            var path = Path.Combine(directory, fileName);
            if (request.Storage is not { } storage)
            {
                return OnnxFileWriter.Write(build(null), path);
            }

            var (written, bytes) = ExternalDataWriter.WriteModel(path, data => build(data), storage.Precision, storage.MaxFileBytes);
            weightBytes += bytes;
            return written;
        }

        switch (request.Config)
        {
            case T5Config t5:
                files.AddRange(Write(ModelFileName, data => T5EncoderGraph.Build(t5, request.Weights, data)));
                File.WriteAllBytes(Path.Combine(directory, TokenizerFileName), request.TokenizerModel!);
                files.Add(TokenizerFileName);
                break;
            case VqganConfig vqgan:
                files.AddRange(Write(EncoderFileName, data => VqganGraphs.BuildEncoder(vqgan, request.Weights, externalData: data)));
                files.AddRange(Write(DecoderFileName, data => VqganGraphs.BuildDecoder(vqgan, request.Weights, data)));
                break;
            case TransformerConfig transformer:
                files.AddRange(Write(ModelFileName, data => MaskedTransformerGraph.Build(transformer, request.Weights, data)));
                break;
        }

        manifest = manifest with { WeightBytes = weightBytes };
        files.Add(WriteManifest(manifest, directory));
        return new ExportResult(manifest, directory, files);
    }

    /// <summary>Writes <paramref name="manifest"/> as <see cref="ManifestFileName"/> in <paramref name="directory"/>; returns the file name.</summary>
    internal static string WriteManifest(ModelManifest manifest, string directory)
    {
        File.WriteAllText(Path.Combine(directory, ManifestFileName), System.Text.Json.JsonSerializer.Serialize(manifest, ModelManifest.JsonOptions) + "\n");
        return ManifestFileName;
    }

    private static ModelManifest TextEncoderManifest(ExportRequest request, T5Config config)
    {
        RequireStage(request, Stages.TextEncoder);
        if (request.TokenizerModel is not { Length: > 0 })
        {
            throw new InvalidDataException("The text encoder needs a SentencePiece model (TokenizerModel).");
        }

        return Common(request) with
        {
            Files = new() { ["model"] = ModelFileName, ["tokenizer"] = TokenizerFileName },
            Inputs = new() { ["input_ids"] = T5EncoderGraph.InputIds, ["attention_mask"] = T5EncoderGraph.AttentionMask },
            Outputs = new() { ["last_hidden_state"] = T5EncoderGraph.LastHiddenState },
            TextEmbeddingDim = config.DModel,
            TextMaxLength = config.MaxLength,
            LowercaseText = true,
        };
    }

    private static ModelManifest ImageTokenizerManifest(ExportRequest request, VqganConfig config)
    {
        RequireStage(request, Stages.ImageTokenizer);
        return Common(request) with
        {
            Files = new() { ["encoder"] = EncoderFileName, ["decoder"] = DecoderFileName },
            Inputs = new() { ["encoder.image"] = VqganGraphs.Image, ["decoder.tokens"] = VqganGraphs.Tokens },
            Outputs = new() { ["encoder.tokens"] = VqganGraphs.Tokens, ["decoder.image"] = VqganGraphs.Image },
            CodebookSize = config.CodebookSize,
            DownsampleFactor = config.DownsampleFactor,
        };
    }

    private static ModelManifest TransformerManifest(ExportRequest request, TransformerConfig config)
    {
        RequireStage(request, config.IsSuperResolution ? Stages.SuperResolution : Stages.Base);
        var inputs = new Dictionary<string, string>
        {
            ["tokens"] = MaskedTransformerGraph.Tokens,
            ["text_embeddings"] = MaskedTransformerGraph.TextEmbeddings,
            ["text_mask"] = MaskedTransformerGraph.TextMask,
        };
        if (config.IsSuperResolution)
        {
            inputs["low_res_tokens"] = MaskedTransformerGraph.LowResTokens;
        }

        return Common(request) with
        {
            Files = new() { ["model"] = ModelFileName },
            Inputs = inputs,
            Outputs = new() { ["logits"] = MaskedTransformerGraph.Logits },
            CodebookSize = config.CodebookSize,
            MaskTokenId = config.MaskTokenId,
            GridHeight = config.GridHeight,
            GridWidth = config.GridWidth,
            LowResGridHeight = config.LowResGridHeight,
            LowResGridWidth = config.LowResGridWidth,
            TextEmbeddingDim = config.TextDim,
            TextMaxLength = config.TextMaxLength,
            ImageTokenizer = request.ImageTokenizer,
            TextEncoder = request.TextEncoder,
        };
    }

    private static ModelManifest Common(ExportRequest request) => new()
    {
        Name = request.Name,
        Version = request.Version,
        Stage = request.Stage,
        Description = request.Description,
        Trained = request.Trained,
        Provenance = request.Provenance,
        Architecture = request.Config.ToJsonElement(),
    };

    private static void RequireStage(ExportRequest request, string expected)
    {
        if (request.Stage != expected)
        {
            throw new InvalidDataException($"A {request.Config.GetType().Name} model is stage '{expected}', not '{request.Stage}'.");
        }
    }
}
