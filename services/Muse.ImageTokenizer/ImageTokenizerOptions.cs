using System.ComponentModel.DataAnnotations;

namespace Muse.ImageTokenizer;

/// <summary>Configuration section <c>Muse:ImageTokenizer</c>: limits of the image-tokenizer stage.</summary>
public sealed class ImageTokenizerOptions
{
    /// <summary>Configuration section name.</summary>
    public const string Section = "Muse:ImageTokenizer";

    /// <summary>Most bytes of one uploaded image. Default 8 MiB; larger uploads get <c>RESOURCE_EXHAUSTED</c>.</summary>
    [Range(64, 256 * 1024 * 1024)]
    public int MaxUploadBytes { get; set; } = 8 * 1024 * 1024;

    /// <summary>Longest side of an uploaded image, in pixels, read from its header. Default 2048.</summary>
    [Range(8, 65536)]
    public int MaxImageSide { get; set; } = 2048;

    /// <summary>Most pixels (width × height) of an uploaded image, read from its header. Default 4 Mpx (2048²).</summary>
    [Range(64, 1L << 32)]
    public long MaxImagePixels { get; set; } = 2048L * 2048;

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
