using System.Text.Json;
using System.Text.Json.Serialization;

namespace Muse.Training;

/// <summary>JSON settings of config.json files: camelCase, indented.</summary>
internal static class ConfigJson
{
    public static JsonSerializerOptions Options { get; } = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };
}

/// <summary>VQGAN architecture (models/README.md, <c>kind: vqgan</c>).</summary>
internal sealed record VqganConfig
{
    public string Kind { get; init; } = "vqgan";

    /// <summary>[c0, c1, c2, c3]; three 2× downsamplings.</summary>
    public int[] Channels { get; init; } = [32, 48, 64, 64];

    public int EmbedDim { get; init; } = 16;

    public int CodebookSize { get; init; } = 512;

    public int Groups { get; init; } = 8;

    public double Eps { get; init; } = 1e-5;

    public int DownsampleFactor { get; init; } = 8;

    /// <summary>Width of the patch encoder (models/README.md); null = the convolutional encoder.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? PatchDim { get; init; }
}

/// <summary>T5 v1.1 encoder architecture (<c>kind: t5</c>).</summary>
internal sealed record T5Config
{
    public string Kind { get; init; } = "t5";

    public int VocabSize { get; init; }

    public int DModel { get; init; } = 64;

    public int NumHeads { get; init; } = 4;

    public int DFf { get; init; } = 128;

    public int NumLayers { get; init; } = 2;

    public int NumBuckets { get; init; } = 32;

    public int MaxDistance { get; init; } = 64;

    public int MaxLength { get; init; } = 32;

    public double Eps { get; init; } = 1e-6;

    [JsonIgnore]
    public int DKv => DModel / NumHeads;
}

/// <summary>Masked transformer architecture (<c>kind: transformer</c>, role base or sr).</summary>
internal sealed record TransformerConfig
{
    public string Kind { get; init; } = "transformer";

    public string Role { get; init; } = "base";

    public int CodebookSize { get; init; } = 512;

    public int GridHeight { get; init; } = 8;

    public int GridWidth { get; init; } = 8;

    public int DModel { get; init; } = 128;

    public int NumHeads { get; init; } = 4;

    public int NumLayers { get; init; } = 4;

    public int MlpDim { get; init; } = 512;

    public int TextDim { get; init; } = 64;

    public int TextMaxLength { get; init; } = 32;

    public double Eps { get; init; } = 1e-5;

    /// <summary>SR only; 0 for base.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public int LowResGridHeight { get; init; }

    /// <summary>SR only; 0 for base.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public int LowResGridWidth { get; init; }

    /// <summary>SR only: add the embedding of the low-res token beneath each position (models/README.md).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public bool AlignedLowRes { get; init; }

    [JsonIgnore]
    public bool IsSuperResolution => LowResGridHeight > 0;
}
