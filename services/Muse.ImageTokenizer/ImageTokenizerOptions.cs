using System.ComponentModel.DataAnnotations;
using Muse.Imaging;

namespace Muse.ImageTokenizer;

/// <summary>
/// Configuration section <c>Muse:ImageTokenizer</c>: limits of the image-tokenizer stage; the upload caps
/// (<c>MaxUploadBytes</c>, <c>MaxImageSide</c>, <c>MaxImagePixels</c>, <c>MaxDecodeMegabytes</c>) come from <see cref="ImageUploadLimits"/>.
/// </summary>
public sealed class ImageTokenizerOptions : ImageUploadLimits
{
    /// <summary>Configuration section name.</summary>
    public const string Section = "Muse:ImageTokenizer";

    /// <summary>Most token grids in one Detokenize request. Default 16.</summary>
    [Range(1, 1024)]
    public int MaxBatch { get; set; } = 16;

    /// <summary>Longest side of a token grid, in tokens (Tokenize and Detokenize). Default 64 (512 px at factor 8).</summary>
    [Range(1, 1024)]
    public int MaxGridSide { get; set; } = 64;

    /// <summary>
    /// Most tokens decoded in one ONNX Runtime run; larger Detokenize batches are split. Default 4096 (one 64×64
    /// grid, or sixteen 16×16 grids): bounds the decoder's activation memory.
    /// </summary>
    [Range(1, 1 << 20)]
    public int MaxTokensPerRun { get; set; } = 4096;
}
