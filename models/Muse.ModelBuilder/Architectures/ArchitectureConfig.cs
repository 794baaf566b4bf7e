using System.Text.Json;
using System.Text.Json.Serialization;

namespace Muse.ModelBuilder.Architectures;

/// <summary>
/// The <c>config.json</c> object of one architecture (models/README.md), told apart by its <c>kind</c>:
/// <c>t5</c>, <c>vqgan</c> or <c>transformer</c>. Read and written with System.Text.Json web defaults (camelCase).
/// </summary>
[JsonPolymorphic(TypeDiscriminatorPropertyName = "kind")]
[JsonDerivedType(typeof(T5Config), "t5")]
[JsonDerivedType(typeof(VqganConfig), "vqgan")]
[JsonDerivedType(typeof(TransformerConfig), "transformer")]
public abstract record ArchitectureConfig
{
    /// <summary>Web defaults, indented; <c>kind</c> may appear anywhere in the object.</summary>
    public static JsonSerializerOptions JsonOptions { get; } = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        AllowOutOfOrderMetadataProperties = true,
    };

    /// <summary>Parses a <c>config.json</c> text and validates it.</summary>
    /// <exception cref="InvalidDataException">Unknown kind, missing field or inconsistent values.</exception>
    public static ArchitectureConfig Parse(string json)
    {
        ArchitectureConfig? config;
        try
        {
            config = JsonSerializer.Deserialize<ArchitectureConfig>(json, JsonOptions);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"Invalid architecture config: {e.Message}", e);
        }

        config = config ?? throw new InvalidDataException("Empty architecture config.");
        config.Validate();
        return config;
    }

    /// <summary>Reads and validates the <c>config.json</c> at <paramref name="path"/>.</summary>
    public static ArchitectureConfig Load(string path) => Parse(File.ReadAllText(path));

    /// <summary>The config as JSON text, <c>kind</c> first.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, JsonOptions);

    /// <summary>The config as a JSON element, for <see cref="Muse.Repository.ModelManifest.Architecture"/>.</summary>
    public JsonElement ToJsonElement() => JsonSerializer.SerializeToElement(this, JsonOptions);

    /// <summary>Throws <see cref="InvalidDataException"/> naming the first inconsistent field.</summary>
    public abstract void Validate();

    private protected static void Check(bool condition, string message)
    {
        if (!condition)
        {
            throw new InvalidDataException($"Invalid architecture config: {message}.");
        }
    }
}

/// <summary>T5 v1.1-style text encoder (<c>kind: t5</c>).</summary>
public sealed record T5Config : ArchitectureConfig
{
    /// <summary>SentencePiece vocabulary size V (rows of <c>shared.weight</c>).</summary>
    public required int VocabSize { get; init; }

    /// <summary>Model width D.</summary>
    public required int DModel { get; init; }

    /// <summary>Attention heads H; D must be divisible by H.</summary>
    public required int NumHeads { get; init; }

    /// <summary>Feed-forward width F.</summary>
    public required int DFf { get; init; }

    /// <summary>Encoder blocks.</summary>
    public required int NumLayers { get; init; }

    /// <summary>Relative-position buckets; default 32.</summary>
    public int NumBuckets { get; init; } = 32;

    /// <summary>Distance beyond which relative positions share a bucket; default 64.</summary>
    public int MaxDistance { get; init; } = 64;

    /// <summary>Sequence length L every text is padded to (eos and padding included).</summary>
    public required int MaxLength { get; init; }

    /// <summary>RMSNorm epsilon; default 1e-6.</summary>
    public double Eps { get; init; } = 1e-6;

    /// <summary>Head width D/H.</summary>
    [JsonIgnore]
    public int DKv => DModel / NumHeads;

    /// <inheritdoc />
    public override void Validate()
    {
        Check(VocabSize > 3, "vocabSize must exceed the 3 special tokens");
        Check(DModel > 0 && NumHeads > 0 && DModel % NumHeads == 0, "dModel must be a positive multiple of numHeads");
        Check(DFf > 0 && NumLayers > 0 && MaxLength > 0, "dFf, numLayers and maxLength must be positive");
        Check(NumBuckets >= 4 && NumBuckets % 4 == 0, "numBuckets must be a positive multiple of 4");
        Check(MaxDistance > NumBuckets / 4, "maxDistance must exceed numBuckets/4");
        Check(Eps > 0, "eps must be positive");
    }
}

/// <summary>
/// VQGAN image tokenizer (<c>kind: vqgan</c>): one 2× downsampling between consecutive channel widths, so four widths
/// make the f8 tokenizer (8 pixels per token side) and five the paper's f16 one.
/// </summary>
public sealed record VqganConfig : ArchitectureConfig
{
    /// <summary>Pixels per token side: 2^(channel widths − 1), 8 for the four widths of the shipped models.</summary>
    [JsonIgnore]
    public int DownsampleFactor => 1 << (Channels.Length - 1);

    /// <summary>Stride-2 stages of the encoder (and upsamplings of the decoder): widths − 1.</summary>
    [JsonIgnore]
    public int Stages => Channels.Length - 1;

    /// <summary>Channel widths [c0, c1, …]: 4 (f8) or 5 (f16) of them.</summary>
    public required int[] Channels { get; init; }

    /// <summary>Latent (codebook entry) width E.</summary>
    public required int EmbedDim { get; init; }

    /// <summary>Codebook entries K.</summary>
    public required int CodebookSize { get; init; }

    /// <summary>GroupNorm groups G; default 8. Every channel width must be divisible by it.</summary>
    public int Groups { get; init; } = 8;

    /// <summary>GroupNorm epsilon; default 1e-5.</summary>
    public double Eps { get; init; } = 1e-5;

    /// <summary>
    /// Width P of the patch encoder (each token from its own 8×8 pixels alone); null = the convolutional encoder.
    /// The decoder is the same either way.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? PatchDim { get; init; }

    /// <inheritdoc />
    public override void Validate()
    {
        Check(Channels is { Length: 4 or 5 } && Channels.All(c => c > 0), "channels must hold 4 (f8) or 5 (f16) positive widths");
        Check(PatchDim is null or > 0, "patchDim must be positive when set");
        Check(Groups > 0 && Channels.All(c => c % Groups == 0), "every channel width must be divisible by groups");
        Check(EmbedDim > 0 && CodebookSize > 1, "embedDim must be positive and codebookSize above 1");
        Check(Eps > 0, "eps must be positive");
    }

    /// <summary>Value equality over the channel list too (arrays compare by reference by default).</summary>
    public bool Equals(VqganConfig? other) =>
        other is not null && Channels.SequenceEqual(other.Channels) && EmbedDim == other.EmbedDim
        && CodebookSize == other.CodebookSize && Groups == other.Groups && Eps.Equals(other.Eps) && PatchDim == other.PatchDim;

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(Channels.Length > 0 ? Channels[^1] : 0, EmbedDim, CodebookSize, Groups, Eps, PatchDim);
}

/// <summary>
/// Masked token transformer (<c>kind: transformer</c>): the base model, or the super-resolution model when
/// <see cref="LowResGridHeight"/> and <see cref="LowResGridWidth"/> are set.
/// </summary>
public sealed record TransformerConfig : ArchitectureConfig
{
    /// <summary>Codebook entries K; the mask token id is K, so the token embedding has K+1 rows.</summary>
    public required int CodebookSize { get; init; }

    /// <summary>Token grid height h.</summary>
    public required int GridHeight { get; init; }

    /// <summary>Token grid width w.</summary>
    public required int GridWidth { get; init; }

    /// <summary>Model width D.</summary>
    public required int DModel { get; init; }

    /// <summary>Attention heads H; D must be divisible by H.</summary>
    public required int NumHeads { get; init; }

    /// <summary>Transformer layers.</summary>
    public required int NumLayers { get; init; }

    /// <summary>MLP hidden width F.</summary>
    public required int MlpDim { get; init; }

    /// <summary>Width Dt of the text embeddings (the text encoder's D).</summary>
    public required int TextDim { get; init; }

    /// <summary>Text tokens per sequence L.</summary>
    public required int TextMaxLength { get; init; }

    /// <summary>LayerNorm epsilon; default 1e-5.</summary>
    public double Eps { get; init; } = 1e-5;

    /// <summary>Low-resolution grid height (sr only; 0 for base).</summary>
    public int LowResGridHeight { get; init; }

    /// <summary>Low-resolution grid width (sr only; 0 for base).</summary>
    public int LowResGridWidth { get; init; }

    /// <summary>
    /// sr only: each position also adds <c>low_res_aligned_embedding</c> of the low-res token covering it (nearest
    /// upsampling of the low-res grid), besides the low-res keys of the cross-attention. A small model then need not
    /// learn the grid correspondence through attention first. Omitted from JSON when false (older sr models).
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public bool AlignedLowRes { get; init; }

    /// <summary>The mask token id: always <see cref="CodebookSize"/>.</summary>
    [JsonIgnore]
    public int MaskTokenId => CodebookSize;

    /// <summary>Tokens per grid N = h·w.</summary>
    [JsonIgnore]
    public int GridTokens => GridHeight * GridWidth;

    /// <summary>Low-resolution tokens M (0 for base).</summary>
    [JsonIgnore]
    public int LowResTokens => LowResGridHeight * LowResGridWidth;

    /// <summary>True for the super-resolution variant.</summary>
    [JsonIgnore]
    public bool IsSuperResolution => LowResTokens > 0;

    /// <inheritdoc />
    public override void Validate()
    {
        Check(CodebookSize > 1 && GridHeight > 0 && GridWidth > 0, "codebookSize, gridHeight and gridWidth must be positive");
        Check(DModel > 0 && NumHeads > 0 && DModel % NumHeads == 0, "dModel must be a positive multiple of numHeads");
        Check(NumLayers > 0 && MlpDim > 0 && TextDim > 0 && TextMaxLength > 0, "numLayers, mlpDim, textDim and textMaxLength must be positive");
        Check((LowResGridHeight > 0) == (LowResGridWidth > 0) && LowResGridHeight >= 0, "lowResGridHeight and lowResGridWidth are both set (sr) or both 0 (base)");
        Check(
            !AlignedLowRes || (IsSuperResolution && GridHeight % LowResGridHeight == 0 && GridWidth % LowResGridWidth == 0),
            "alignedLowRes needs an sr grid that is a whole multiple of the low-res grid");
        Check(Eps > 0, "eps must be positive");
    }
}
