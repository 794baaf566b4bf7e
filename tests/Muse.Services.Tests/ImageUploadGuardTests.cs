using Grpc.Core;
using Microsoft.Extensions.Logging.Abstractions;
using Muse.Hosting;
using Muse.Imaging;
using Muse.Testing;
using SixLabors.ImageSharp.Formats.Png;
using Xunit.Abstractions;

namespace Muse.Services.Tests;

/// <summary>The shared upload guard, called directly: the CMYK case, image kinds, and a fuzz run over mutated files.</summary>
public sealed class ImageUploadGuardTests(ITestOutputHelper output)
{
    private readonly ImageUploadGuard _guard = new(new ImageUploadLimits(), NullLogger<ImageUploadGuard>.Instance);

    [Fact]
    public void Decode_CmykJpegWithAdobeMarker_ConvertsToRgb()
    {
        var jpeg = UploadSamples.CmykJpeg(32, 16);

        var header = _guard.Inspect(jpeg, "image");
        using var image = _guard.Load(jpeg, header, "image");

        Assert.Equal((UploadFormat.Jpeg, 32, 16), (header.Format, header.Width, header.Height));
        Assert.Equal((32, 16), (image.Width, image.Height));
    }

    [Fact]
    public void Inspect_CmykJpegCutAfterItsFrameHeader_InvalidArgument()
    {
        var jpeg = UploadSamples.CmykJpeg(32, 32);
        // SOI, APP14, DQT and SOF0, then EOI: a frame header with no tables and no scan.
        var frameEnd = jpeg.AsSpan().IndexOf([(byte)0xFF, (byte)0xC4]);
        byte[] headerOnly = [.. jpeg[..frameEnd], 0xFF, 0xD9];

        var error = Assert.ThrowsAny<RpcException>(() => _guard.Load(headerOnly, _guard.Inspect(headerOnly, "image"), "image"));

        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
    }

    [Theory]
    [InlineData(PngColorType.Grayscale, PngBitDepth.Bit8)]
    [InlineData(PngColorType.Grayscale, PngBitDepth.Bit16)]
    [InlineData(PngColorType.Rgb, PngBitDepth.Bit16)]
    [InlineData(PngColorType.RgbWithAlpha, PngBitDepth.Bit8)]
    [InlineData(PngColorType.GrayscaleWithAlpha, PngBitDepth.Bit16)]
    public void Decode_PngOfOtherColourTypes_GivesRgbOfTheSameSize(PngColorType colourType, PngBitDepth bitDepth)
    {
        var png = TestImages.ScenePng(40, 24, colourType, bitDepth);

        using var image = _guard.Load(png, _guard.Inspect(png, "image"), "image");

        Assert.Equal((40, 24), (image.Width, image.Height));
    }

    [Fact]
    public void Inspect_PngDeclaringHugeSize_ResourceExhaustedBeforeDecoding()
    {
        var bomb = UploadSamples.PngDeclaring(100_000, 100_000);

        var error = Assert.Throws<ResourceExhaustedException>(() => _guard.Inspect(bomb, "image"));

        Assert.Contains("100000×100000", error.Message, StringComparison.Ordinal);
    }

    // Hundreds of mutated PNG and JPEG files: each is decoded or refused with INVALID_ARGUMENT or
    // RESOURCE_EXHAUSTED; any other exception (or a hang, bounded by the timeout) fails the test.
    [Fact(Timeout = 300_000)]
    public async Task InspectAndDecode_MutatedFiles_AcceptOrRefuseWithAStatus()
    {
        var seeds = new[]
        {
            ("png", TestImages.NoisePng(48, 40)),
            ("png16", TestImages.ScenePng(32, 32, PngColorType.RgbWithAlpha, PngBitDepth.Bit16)),
            ("gray", TestImages.ScenePng(24, 32, PngColorType.Grayscale, PngBitDepth.Bit8)),
            ("jpeg", TestImages.SceneJpeg(48, 32)),
            ("cmyk", UploadSamples.CmykJpeg(32, 32)),
        };
        var outcomes = new Dictionary<string, int>(StringComparer.Ordinal);

        await Task.Run(() =>
        {
            foreach (var (kind, original) in seeds)
            {
                foreach (var (name, bytes) in UploadSamples.Mutations(original, 80, salt: (uint)kind.Length))
                {
                    var outcome = Outcome(bytes);
                    Assert.True(outcome is "OK" or "InvalidArgument" or "ResourceExhausted", $"{kind} {name}: {outcome}");
                    outcomes[outcome] = outcomes.GetValueOrDefault(outcome) + 1;
                }
            }
        });

        output.WriteLine(string.Join(", ", outcomes.Select(o => $"{o.Key} {o.Value}")));
        Assert.Equal(400, outcomes.Values.Sum());
        Assert.True(outcomes.GetValueOrDefault("InvalidArgument") > 0);
    }

    private string Outcome(byte[] bytes)
    {
        try
        {
            using var image = _guard.Load(bytes, _guard.Inspect(bytes, "image"), "image");
            return image.Width > 0 && image.Height > 0 ? "OK" : "empty image";
        }
        catch (RpcException ex)
        {
            return ex.StatusCode.ToString();
        }
        catch (ResourceExhaustedException)
        {
            return "ResourceExhausted";
        }
#pragma warning disable CA1031 // The point of the test: every other exception is a finding, reported by name.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            return $"{ex.GetType().Name}: {ex.Message}";
        }
    }
}
