using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using Muse.Hosting;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Jpeg;
using SixLabors.ImageSharp.Formats.Png;
using SixLabors.ImageSharp.Memory;
using SixLabors.ImageSharp.PixelFormats;

namespace Muse.Imaging;

/// <summary>An uploaded image format the guard lets through.</summary>
public enum UploadFormat
{
    /// <summary>PNG (any bit depth and colour type ImageSharp reads).</summary>
    Png,

    /// <summary>JPEG (baseline or progressive; grayscale, YCbCr, CMYK and YCCK).</summary>
    Jpeg,
}

/// <summary>What the guard learnt from an upload's header, before decoding any pixel.</summary>
/// <param name="Format">Format, from the magic bytes.</param>
/// <param name="Width">Width in pixels, from the header.</param>
/// <param name="Height">Height in pixels, from the header.</param>
public sealed record UploadHeader(UploadFormat Format, int Width, int Height);

/// <summary>
/// The one gate for untrusted image bytes: images to tokenize (image-tokenizer stage), images and masks to edit
/// (orchestrator). ImageSharp 2.1 has known flaws with crafted files, so the guard decides as much as it can
/// before the full decoder sees the bytes:
/// <list type="number">
/// <item>a byte cap (<see cref="ImageUploadLimits.MaxUploadBytes"/>) → <c>RESOURCE_EXHAUSTED</c>;</item>
/// <item>an allow-list by magic bytes: PNG and JPEG only → <c>INVALID_ARGUMENT</c>;</item>
/// <item>intact structure (PNG chunks through IEND, JPEG end-of-image marker) → <c>INVALID_ARGUMENT</c>;</item>
/// <item>size caps read from the header by <c>Image.Identify</c> (<see cref="ImageUploadLimits.MaxImageSide"/>,
/// <see cref="ImageUploadLimits.MaxImagePixels"/>) → <c>RESOURCE_EXHAUSTED</c>;</item>
/// <item>then decoding with a configuration that knows only the PNG and JPEG decoders, runs on one thread and may
/// allocate at most <see cref="ImageUploadLimits.MaxDecodeMegabytes"/>, with any decoder failure turned into
/// <c>INVALID_ARGUMENT</c> (the process stays up).</item>
/// </list>
/// Pixels come out as 8-bit RGB: alpha is flattened onto white; grayscale, 16-bit and CMYK are converted.
/// Thread-safe; a singleton per process.
/// </summary>
public sealed class ImageUploadGuard
{
    private static readonly byte[] PngSignature = [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A];
    private static readonly byte[] JpegSignature = [0xFF, 0xD8, 0xFF];

    // Bytes after the JPEG end-of-image marker that are tolerated (padding some encoders append).
    private const int JpegTrailerSlack = 4096;

    private readonly ImageUploadLimits _options;
    private readonly ILogger _logger;

    // Only these two decoders exist in this configuration: a crafted file can never reach another format's decoder.
    private readonly Configuration _decoderConfiguration;

    /// <summary>Creates a guard with the given limits (copied; later changes to <paramref name="limits"/> are not seen).</summary>
    public ImageUploadGuard(ImageUploadLimits limits, ILogger<ImageUploadGuard> logger)
    {
        ArgumentNullException.ThrowIfNull(limits);
        ArgumentNullException.ThrowIfNull(logger);
        _options = limits.Copy();
        _logger = logger;
        _decoderConfiguration = new Configuration(new PngConfigurationModule(), new JpegConfigurationModule())
        {
            MaxDegreeOfParallelism = 1,
            // A last line behind the header caps: no single buffer of a decode may exceed this.
            MemoryAllocator = MemoryAllocator.Create(new MemoryAllocatorOptions { AllocationLimitMegabytes = _options.MaxDecodeMegabytes }),
        };
    }

    /// <summary>The limits this guard enforces.</summary>
    public ImageUploadLimits Limits => _options.Copy();

    /// <summary>
    /// Checks size, format and header of <paramref name="upload"/> without decoding pixels.
    /// </summary>
    /// <param name="upload">The untrusted bytes.</param>
    /// <param name="field">Request field the bytes came from, named in errors (e.g. <c>image</c>).</param>
    /// <exception cref="Grpc.Core.RpcException"><c>INVALID_ARGUMENT</c>: empty, not PNG/JPEG, unreadable header.</exception>
    /// <exception cref="ResourceExhaustedException">Over the byte or pixel caps.</exception>
    public UploadHeader Inspect(ReadOnlyMemory<byte> upload, string field)
    {
        if (upload.IsEmpty)
        {
            Reject(field, "empty", "is empty; send PNG or JPEG bytes.");
        }

        if (upload.Length > _options.MaxUploadBytes)
        {
            TooLarge($"{field} is {upload.Length} bytes; the limit is {_options.MaxUploadBytes} bytes. Send a smaller PNG or JPEG.");
        }

        var format = SniffFormat(upload.Span, field);
        CheckComplete(format, upload.Span, field);
        IImageInfo? info;
        try
        {
            using var stream = OpenRead(upload);
            info = Image.Identify(_decoderConfiguration, stream);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            Undecodable(ex, format, field, "its header cannot be read");
            throw; // Unreachable: Undecodable throws.
        }

        if (info is null || info.Width <= 0 || info.Height <= 0)
        {
            Reject(field, "no header", $"is not a readable {Name(format)} file (no valid header).");
        }

        if (info.Width > _options.MaxImageSide || info.Height > _options.MaxImageSide
            || (long)info.Width * info.Height > _options.MaxImagePixels)
        {
            TooLarge(
                $"{field} is {info.Width}×{info.Height} px; the limits are {_options.MaxImageSide} px per side and {_options.MaxImagePixels} px in all. Send a smaller image.");
        }

        return new UploadHeader(format, info.Width, info.Height);
    }

    /// <summary>
    /// Loads the pixels of an upload that passed <see cref="Inspect"/> as 8-bit RGB, alpha flattened onto white.
    /// </summary>
    /// <remarks>The caller owns the returned image and must dispose it.</remarks>
    /// <exception cref="Grpc.Core.RpcException"><c>INVALID_ARGUMENT</c>: the pixel data is corrupt or disagrees with the header.</exception>
    public Image<Rgb24> Load(ReadOnlyMemory<byte> upload, UploadHeader header, string field)
    {
        ArgumentNullException.ThrowIfNull(header);
        Image<Rgba32> decoded;
        try
        {
            using var stream = OpenRead(upload);
            decoded = Image.Load<Rgba32>(_decoderConfiguration, stream);
        }
        catch (InvalidMemoryOperationException ex)
        {
            TooLarge($"{field} needs more memory to decode than this server allows ({ex.Message}).");
            throw; // Unreachable.
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            Undecodable(ex, header.Format, field, "its pixel data is corrupt or truncated");
            throw; // Unreachable.
        }

        using (decoded)
        {
            if (decoded.Width != header.Width || decoded.Height != header.Height)
            {
                Reject(field, "size mismatch",
                    $"decodes to {decoded.Width}×{decoded.Height} px but its header says {header.Width}×{header.Height} px; the file is malformed.");
            }

            return FlattenOnWhite(decoded);
        }
    }

    /// <summary>The format named by the magic bytes; anything but PNG and JPEG is rejected, naming what it looks like.</summary>
    private UploadFormat SniffFormat(ReadOnlySpan<byte> bytes, string field)
    {
        if (bytes.StartsWith(PngSignature))
        {
            return UploadFormat.Png;
        }

        if (bytes.StartsWith(JpegSignature))
        {
            return UploadFormat.Jpeg;
        }

        Reject(field, "format", $"is {Describe(bytes)}; only PNG and JPEG are accepted.");
        return default; // Unreachable.
    }

    /// <summary>
    /// Rejects truncated files, which ImageSharp would otherwise decode silently with missing rows: a PNG's chunks
    /// must be intact from IHDR through IDAT to IEND, a JPEG must end with its end-of-image marker.
    /// </summary>
    private void CheckComplete(UploadFormat format, ReadOnlySpan<byte> bytes, string field)
    {
        if (format == UploadFormat.Jpeg)
        {
            // FF D9 cannot occur inside entropy-coded data (FF is always stuffed), so it marks the true end;
            // a little trailing padding after it is common and allowed.
            var tail = bytes[Math.Max(0, bytes.Length - JpegTrailerSlack)..];
            if (tail.IndexOf([(byte)0xFF, (byte)0xD9]) < 0)
            {
                Reject(field, "truncated", "is a truncated JPEG file (no end-of-image marker).");
            }

            return;
        }

        var offset = PngSignature.Length;
        var seenData = false;
        var first = true;
        while (true)
        {
            if (bytes.Length - offset < 12)
            {
                Reject(field, "truncated", "is a truncated PNG file (it ends before its IEND chunk).");
            }

            var length = System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(bytes[offset..]);
            var type = bytes.Slice(offset + 4, 4);
            if (length > int.MaxValue || length > (uint)(bytes.Length - offset - 12))
            {
                Reject(field, "truncated", "is a truncated PNG file (a chunk runs past the end of the upload).");
            }

            if (first && !type.SequenceEqual("IHDR"u8))
            {
                Reject(field, "malformed", "is not a valid PNG file (its first chunk is not IHDR).");
            }

            first = false;
            seenData |= type.SequenceEqual("IDAT"u8);
            offset += 12 + (int)length;
            if (type.SequenceEqual("IEND"u8))
            {
                break;
            }
        }

        if (!seenData)
        {
            Reject(field, "malformed", "is not a valid PNG file (it has no IDAT chunk).");
        }
    }

    private static string Describe(ReadOnlySpan<byte> bytes) => bytes switch
    {
        _ when bytes.StartsWith("GIF8"u8) => "a GIF image",
        _ when bytes.StartsWith("BM"u8) => "a BMP image",
        _ when bytes.StartsWith("II*\0"u8) || bytes.StartsWith("MM\0*"u8) => "a TIFF image",
        _ when bytes.Length >= 12 && bytes.StartsWith("RIFF"u8) && bytes[8..12].SequenceEqual("WEBP"u8) => "a WebP image",
        _ when bytes.StartsWith("<"u8) || bytes.StartsWith("<?xml"u8) => "text (SVG or HTML?)",
        _ when bytes.StartsWith(PngSignature.AsSpan(0, 4)) => "a damaged PNG (bad signature)",
        _ => "not a recognised image format",
    };

    private static Image<Rgb24> FlattenOnWhite(Image<Rgba32> source)
    {
        var result = new Image<Rgb24>(source.Width, source.Height);
        try
        {
            source.ProcessPixelRows(result, static (from, to) =>
            {
                for (var y = 0; y < from.Height; y++)
                {
                    var fromRow = from.GetRowSpan(y);
                    var toRow = to.GetRowSpan(y);
                    for (var x = 0; x < fromRow.Length; x++)
                    {
                        var p = fromRow[x];
                        // Straight (non-premultiplied) alpha over an opaque white background.
                        var white = 255 - p.A;
                        toRow[x] = new Rgb24(
                            (byte)(((p.R * p.A) + (255 * white) + 127) / 255),
                            (byte)(((p.G * p.A) + (255 * white) + 127) / 255),
                            (byte)(((p.B * p.A) + (255 * white) + 127) / 255));
                    }
                }
            });
            return result;
        }
        catch
        {
            result.Dispose();
            throw;
        }
    }

    private static string Name(UploadFormat format) => format == UploadFormat.Png ? "PNG" : "JPEG";

    private static MemoryStream OpenRead(ReadOnlyMemory<byte> bytes) =>
        MemoryMarshal.TryGetArray(bytes, out var segment) && segment.Array is not null
            ? new MemoryStream(segment.Array, segment.Offset, segment.Count, writable: false)
            : new MemoryStream(bytes.ToArray(), writable: false);

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    private void Reject(string field, string reason, string description)
    {
        ImagingLog.UploadRejected(_logger, reason, $"{field} {description}");
        MuseValidation.ThrowInvalidArgument(field, description);
    }

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    private void TooLarge(string message)
    {
        ImagingLog.UploadRejected(_logger, "too large", message);
        throw new ResourceExhaustedException(message);
    }

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    private void Undecodable(Exception exception, UploadFormat format, string field, string what)
    {
        ImagingLog.UploadUndecodable(_logger, exception, format.ToString(), exception.GetType().Name);
        // Decoder messages for malformed files describe the file, not the server; anything else stays in the log.
        var detail = exception is ImageFormatException ? $" ({exception.Message})" : "";
        MuseValidation.ThrowInvalidArgument(field, $"is not a valid {Name(format)} file: {what}{detail}.");
    }
}
