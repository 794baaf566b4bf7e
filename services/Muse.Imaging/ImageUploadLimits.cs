using System.ComponentModel.DataAnnotations;

namespace Muse.Imaging;

/// <summary>
/// Caps on one uploaded image, checked by <see cref="ImageUploadGuard"/> before (and while) any pixel is decoded.
/// The base of each process's upload configuration (the image tokenizer's <c>Muse:ImageTokenizer</c>, the
/// orchestrator's <c>Muse:Uploads</c>), so every process names the caps the same way.
/// </summary>
public class ImageUploadLimits
{
    /// <summary>Most bytes of one uploaded image. Default 8 MiB; larger uploads get <c>RESOURCE_EXHAUSTED</c>.</summary>
    [Range(64, 256 * 1024 * 1024)]
    public int MaxUploadBytes { get; set; } = 8 * 1024 * 1024;

    /// <summary>Longest side of an uploaded image, in pixels, read from its header. Default 2048.</summary>
    [Range(8, 65536)]
    public int MaxImageSide { get; set; } = 2048;

    /// <summary>Most pixels (width × height) of an uploaded image, read from its header. Default 4 Mpx (2048²).</summary>
    [Range(64, 1L << 32)]
    public long MaxImagePixels { get; set; } = 2048L * 2048;

    /// <summary>
    /// Largest single buffer the decoder may allocate, in MiB (ImageSharp's allocation limit), a last bound behind
    /// the header caps. Default 256 (a 4 Mpx image at 16 bits per channel with alpha needs 32).
    /// </summary>
    [Range(1, 4096)]
    public int MaxDecodeMegabytes { get; set; } = 256;

    /// <summary>A copy of these limits (as the base type).</summary>
    public ImageUploadLimits Copy() => new()
    {
        MaxUploadBytes = MaxUploadBytes,
        MaxImageSide = MaxImageSide,
        MaxImagePixels = MaxImagePixels,
        MaxDecodeMegabytes = MaxDecodeMegabytes,
    };
}
