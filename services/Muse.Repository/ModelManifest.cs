using System.Text.Json;
using System.Text.Json.Serialization;

namespace Muse.Repository;

/// <summary>Stage names, as used in manifests, pipelines.json, protos and logs.</summary>
public static class Stages
{
    /// <summary>T5 text encoder.</summary>
    public const string TextEncoder = "text_encoder";

    /// <summary>VQGAN image tokenizer/decoder.</summary>
    public const string ImageTokenizer = "image_tokenizer";

    /// <summary>Base (low-resolution) masked transformer.</summary>
    public const string Base = "base";

    /// <summary>Super-resolution masked transformer.</summary>
    public const string SuperResolution = "sr";
}

/// <summary>
/// <c>repository/&lt;name&gt;/&lt;version&gt;/manifest.json</c>: everything a host or client must know to load
/// and use one model version. File paths are relative to the manifest's folder.
/// </summary>
public sealed record ModelManifest
{
    /// <summary>Model name, e.g. <c>muse-tiny-base</c>.</summary>
    public required string Name { get; init; }

    /// <summary>Version label within the model, e.g. <c>1</c>.</summary>
    public required string Version { get; init; }

    /// <summary>One of <see cref="Stages"/>.</summary>
    public required string Stage { get; init; }

    /// <summary>Free text for humans.</summary>
    public string Description { get; init; } = "";

    /// <summary>True for weights produced by training; false for seeded random fixtures.</summary>
    public bool Trained { get; init; }

    /// <summary>Where the weights came from (seed, data set hash, steps, metrics).</summary>
    public Provenance Provenance { get; init; } = new();

    /// <summary>
    /// Role → file name. Roles: <c>model</c> (text encoder, base, sr), <c>encoder</c> and <c>decoder</c>
    /// (image tokenizer), <c>tokenizer</c> (text encoder's SentencePiece model).
    /// </summary>
    public Dictionary<string, string> Files { get; init; } = [];

    /// <summary>Role → ONNX input name of the <c>model</c>/<c>encoder</c>/<c>decoder</c> graphs (see models/README.md).</summary>
    public Dictionary<string, string> Inputs { get; init; } = [];

    /// <summary>Role → ONNX output name.</summary>
    public Dictionary<string, string> Outputs { get; init; } = [];

    /// <summary>Codebook entries K (image tokenizer, base, sr); 0 elsewhere.</summary>
    public int CodebookSize { get; init; }

    /// <summary>Id of the mask token (base, sr); always <see cref="CodebookSize"/>.</summary>
    public int MaskTokenId { get; init; }

    /// <summary>Token grid the transformer decodes (base, sr).</summary>
    public int GridHeight { get; init; }

    /// <summary>Token grid width (base, sr).</summary>
    public int GridWidth { get; init; }

    /// <summary>Low-resolution grid the SR transformer is conditioned on (sr only).</summary>
    public int LowResGridHeight { get; init; }

    /// <summary>Low-resolution grid width (sr only).</summary>
    public int LowResGridWidth { get; init; }

    /// <summary>Width D of a text embedding (text encoder output; transformer input).</summary>
    public int TextEmbeddingDim { get; init; }

    /// <summary>Text tokens per sequence, padding and end-of-sequence included.</summary>
    public int TextMaxLength { get; init; }

    /// <summary>Pixels per token side (image tokenizer), e.g. 8.</summary>
    public int DownsampleFactor { get; init; }

    /// <summary>Text encoder: lower-case and collapse white space before tokenizing.</summary>
    public bool LowercaseText { get; init; }

    /// <summary>
    /// Text encoder: how texts become ids. Null (default, not written): the SentencePiece model in file <c>tokenizer</c>, T5 ids
    /// with end-of-sequence; <see cref="ClipTokenizerKind"/>: CLIP's BPE from the folder in file <c>tokenizer</c>
    /// (<c>vocab.json</c>, <c>merges.txt</c>), start and end tokens, padded to <see cref="TextMaxLength"/>.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? TextTokenizer { get; init; }

    /// <summary>
    /// Width of the pooled text embedding: the text encoder's <c>pooled</c> output and the transformer's
    /// <c>pooled_text_embeddings</c> input (aMUSEd); 0 when the model has none (Muse).
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public int PooledEmbeddingDim { get; init; }

    /// <summary><c>name/version</c> of the image tokenizer the transformer was trained with.</summary>
    public string ImageTokenizer { get; init; } = "";

    /// <summary><c>name/version</c> of the text encoder the transformer was trained with.</summary>
    public string TextEncoder { get; init; } = "";

    /// <summary>
    /// Bytes the weights of all graphs take in memory once loaded (fp32, even when stored as fp16). 0 (default, older
    /// manifests) = unknown: the loader then counts the sizes of the graph files and their external data.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public long WeightBytes { get; init; }

    /// <summary>Architecture hyper-parameters, as written by the builder (see models/README.md).</summary>
    public JsonElement? Architecture { get; init; }

    /// <summary>The <see cref="TextTokenizer"/> value of CLIP's BPE tokenizer.</summary>
    public const string ClipTokenizerKind = "clip";

    /// <summary><c>name/version</c>.</summary>
    [JsonIgnore]
    public string Id => $"{Name}/{Version}";

    /// <summary>Serializer settings for manifests and pipelines.json: camelCase, indented.</summary>
    public static JsonSerializerOptions JsonOptions { get; } = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    /// <summary>Reads and validates <paramref name="path"/>.</summary>
    /// <exception cref="InvalidDataException">The manifest is malformed or inconsistent.</exception>
    public static ModelManifest Load(string path)
    {
        var manifest = JsonSerializer.Deserialize<ModelManifest>(File.ReadAllText(path), JsonOptions)
            ?? throw new InvalidDataException($"{path}: empty manifest.");
        manifest.Validate(path);
        return manifest;
    }

    /// <summary>Throws <see cref="InvalidDataException"/> naming the first inconsistency.</summary>
    public void Validate(string source)
    {
        string[] known = [Stages.TextEncoder, Stages.ImageTokenizer, Stages.Base, Stages.SuperResolution];
        Check(known.Contains(Stage), $"unknown stage '{Stage}'");
        switch (Stage)
        {
            case Stages.TextEncoder:
                Check(Files.ContainsKey("model") && Files.ContainsKey("tokenizer"), "text encoder needs files 'model' and 'tokenizer'");
                Check(TextEmbeddingDim > 0 && TextMaxLength > 0, "text encoder needs textEmbeddingDim and textMaxLength");
                Check(TextTokenizer is null or "" or ClipTokenizerKind, $"unknown textTokenizer '{TextTokenizer}'");
                Check(PooledEmbeddingDim == 0 || Outputs.ContainsKey("pooled"), "a pooledEmbeddingDim needs output 'pooled'");
                break;
            case Stages.ImageTokenizer:
                Check(Files.ContainsKey("encoder") && Files.ContainsKey("decoder"), "image tokenizer needs files 'encoder' and 'decoder'");
                Check(CodebookSize > 0 && DownsampleFactor > 0, "image tokenizer needs codebookSize and downsampleFactor");
                break;
            default:
                Check(Files.ContainsKey("model"), "transformer needs file 'model'");
                Check(CodebookSize > 0 && MaskTokenId == CodebookSize, "maskTokenId must equal codebookSize");
                Check(GridHeight > 0 && GridWidth > 0, "transformer needs gridHeight and gridWidth");
                Check(TextEmbeddingDim > 0 && TextMaxLength > 0, "transformer needs textEmbeddingDim and textMaxLength");
                Check(Stage != Stages.SuperResolution || (LowResGridHeight > 0 && LowResGridWidth > 0), "sr needs lowResGridHeight and lowResGridWidth");
                break;
        }

        void Check(bool condition, string message)
        {
            if (!condition)
            {
                throw new InvalidDataException($"{source}: {message}.");
            }
        }
    }
}

/// <summary>Where a model's weights came from.</summary>
public sealed record Provenance
{
    /// <summary><c>random</c> (seeded fixture) or <c>trained</c>.</summary>
    public string Source { get; init; } = "random";

    /// <summary>Seed of the random initialisation or of the training run.</summary>
    public ulong Seed { get; init; }

    /// <summary>SHA-256 of the training data set description, when trained.</summary>
    public string? DatasetHash { get; init; }

    /// <summary>Optimiser steps taken.</summary>
    public long TrainingSteps { get; init; }

    /// <summary>Wall-clock training time in seconds.</summary>
    public double TrainingSeconds { get; init; }

    /// <summary>Final metrics, e.g. <c>psnr</c>, <c>loss</c>, <c>codebookUsage</c>.</summary>
    public Dictionary<string, double> Metrics { get; init; } = [];
}
