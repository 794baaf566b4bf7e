using Muse.Imaging;
using Muse.Orchestrator.Generation;
using Muse.Protos.V1;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Png;
using SixLabors.ImageSharp.PixelFormats;

namespace Muse.Orchestrator.Tests;

public sealed class ImageEncodingTests
{
    [Fact]
    public void Encode_Png_ParametersReadBackAndPixelsKept()
    {
        var source = SourcePng();
        var parameters = Parameters(seed: 42, prompt: "a red circle");

        var encoded = ImageEncoding.Encode(source, parameters, ImageFormat.Png, quality: 90);

        Assert.Equal(parameters.ToJson(), GenerationParameters.Read(encoded.Image.ToByteArray()).ToJson());
        Assert.Equal((ImageFormat.Png, 42ul, 16, 8), (encoded.Format, encoded.Seed, encoded.Width, encoded.Height));
        using var expected = Image.Load<Rgb24>(source);
        using var actual = Image.Load<Rgb24>(encoded.Image.Span);
        Assert.Equal(Pixels(expected), Pixels(actual));
    }

    [Fact]
    public void Encode_SameInputTwice_ByteIdentical()
    {
        var first = ImageEncoding.Encode(SourcePng(), Parameters(seed: 1, prompt: "x"), ImageFormat.Png, 90);
        var second = ImageEncoding.Encode(SourcePng(), Parameters(seed: 1, prompt: "x"), ImageFormat.Png, 90);

        Assert.Equal(first.Image.ToByteArray(), second.Image.ToByteArray());
    }

    [Theory]
    [InlineData(ImageFormat.Png)]
    [InlineData(ImageFormat.Jpeg)]
    [InlineData(ImageFormat.Webp)]
    public void EncodeRgb24_PixelsOfAPng_SameBytesAsEncodingThePng(ImageFormat format)
    {
        var source = SourcePng();
        using var image = Image.Load<Rgb24>(source);
        var rgb = new byte[3 * image.Width * image.Height];
        image.CopyPixelDataTo(rgb);

        var fromPng = ImageEncoding.Encode(source, Parameters(seed: 5, prompt: "x"), format, 90);
        var fromRgb = ImageEncoding.EncodeRgb24(rgb, image.Width, image.Height, Parameters(seed: 5, prompt: "x"), format, 90);

        Assert.Equal(fromPng.Image.ToByteArray(), fromRgb.Image.ToByteArray());
        Assert.Equal((fromPng.Width, fromPng.Height, fromPng.Format), (fromRgb.Width, fromRgb.Height, fromRgb.Format));
    }

    [Fact]
    public void EncodeRgb24_WrongLength_Throws()
    {
        Assert.Throws<ArgumentException>(() => ImageEncoding.EncodeRgb24(new byte[10], 2, 2, Parameters(seed: 5, prompt: "x"), ImageFormat.Png, 90));
    }

    [Fact]
    public void Encode_NonAsciiPrompt_RoundTrips()
    {
        var parameters = Parameters(seed: 3, prompt: "un cercle rouge à gauche — 赤い円");

        var encoded = ImageEncoding.Encode(SourcePng(), parameters, ImageFormat.Png, 90);

        Assert.Equal(parameters.Prompt, GenerationParameters.Read(encoded.Image.ToByteArray()).Prompt);
    }

    [Theory]
    [InlineData(ImageFormat.Jpeg, "JPEG")]
    [InlineData(ImageFormat.Webp, "Webp")]
    public void Encode_LossyFormat_DecodesAsThatFormatWithParametersInExif(ImageFormat format, string formatName)
    {
        var parameters = Parameters(seed: 9, prompt: "a blue square");

        var encoded = ImageEncoding.Encode(SourcePng(), parameters, format, quality: 75);

        var bytes = encoded.Image.ToByteArray();
        Assert.Equal(formatName, Image.DetectFormat(bytes)?.Name);
        Assert.Equal(parameters.ToJson(), GenerationParameters.Read(bytes).ToJson());
    }

    [Fact]
    public void Read_PngWithoutParameters_InvalidData()
    {
        var error = Assert.Throws<InvalidDataException>(() => GenerationParameters.Read(SourcePng()));

        Assert.Contains(GenerationParameters.PngKeyword, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ToRequest_Parameters_OneImageEverySettingExplicitAndVersionsPinned()
    {
        var parameters = Parameters(seed: 77, prompt: "p") with { NegativePrompt = "n", GuidanceSchedule = "linear" };

        var request = parameters.ToRequest();

        Assert.Equal(("p", "n", 77ul, 1), (request.Prompt, request.NegativePrompt, request.Seed, request.NumImages));
        var decoding = request.Decoding;
        Assert.True(decoding.HasBaseSteps && decoding.HasSrSteps && decoding.HasGuidanceScale && decoding.HasSamplingTemperature && decoding.HasChoiceTemperature);
        Assert.Equal((5, 3, 2.5f, 0.5f, 4f), (decoding.BaseSteps, decoding.SrSteps, decoding.GuidanceScale, decoding.SamplingTemperature, decoding.ChoiceTemperature));
        Assert.Equal(GuidanceSchedule.Linear, decoding.GuidanceSchedule);
        Assert.Equal(0.25f, decoding.SrSamplingTemperature);
        Assert.Equal("pipe", request.Pipeline);
        Assert.Equal(["base:b/2", "sr:s/1"], request.Models.Select(m => $"{m.Stage}:{m.Name}/{m.Version}"));
    }

    [Fact]
    public void ToRequest_ImageFromBeforeSrHadItsOwnTemperature_SrSampledAtTheBaseTemperature()
    {
        var parameters = GenerationParameters.FromJson(Parameters(seed: 1, prompt: "p").ToJson().Replace("\"srSamplingTemperature\":0.25,", "", StringComparison.Ordinal));

        var request = parameters.ToRequest();

        Assert.Null(parameters.SrSamplingTemperature);
        Assert.True(request.Decoding.HasSrSamplingTemperature);
        Assert.Equal(0.5f, request.Decoding.SrSamplingTemperature);
    }

    [Fact]
    public void ToJson_RecompeteOff_WrittenAsBeforeAndReproducedOff()
    {
        var parameters = Parameters(seed: 3, prompt: "p");

        var json = parameters.ToJson();
        var request = GenerationParameters.FromJson(json).ToRequest();

        Assert.DoesNotContain("ecompete", json, StringComparison.Ordinal);
        Assert.True(request.Decoding.HasRecompete && request.Decoding.HasSrRecompete);
        Assert.Equal((false, false), (request.Decoding.Recompete, request.Decoding.SrRecompete));
    }

    [Fact]
    public void ToJson_RecompeteOn_RoundTripsIntoTheReproducingRequest()
    {
        var parameters = Parameters(seed: 3, prompt: "p") with { Recompete = true, SrRecompete = true };

        var json = parameters.ToJson();
        var request = GenerationParameters.FromJson(json).ToRequest();

        Assert.Contains("\"recompete\":true", json, StringComparison.Ordinal);
        Assert.Equal((true, true), (request.Decoding.Recompete, request.Decoding.SrRecompete));
    }

    private static GenerationParameters Parameters(ulong seed, string prompt) => new()
    {
        Prompt = prompt,
        Seed = seed,
        BaseSteps = 5,
        SrSteps = 3,
        GuidanceScale = 2.5f,
        GuidanceSchedule = "constant",
        SamplingTemperature = 0.5f,
        SrSamplingTemperature = 0.25f,
        ChoiceTemperature = 4f,
        Pipeline = "pipe",
        Models = [new ModelVersion("base", "b", "2"), new ModelVersion("sr", "s", "1")],
    };

    // A 16×8 gradient, as the image tokenizer would send it.
    private static byte[] SourcePng()
    {
        using var image = new Image<Rgb24>(16, 8);
        for (var y = 0; y < image.Height; y++)
        {
            for (var x = 0; x < image.Width; x++)
            {
                image[x, y] = new Rgb24((byte)(x * 16), (byte)(y * 32), (byte)(x * y));
            }
        }

        using var stream = new MemoryStream();
        image.Save(stream, new PngEncoder { ColorType = PngColorType.Rgb });
        return stream.ToArray();
    }

    private static Rgb24[] Pixels(Image<Rgb24> image)
    {
        var pixels = new Rgb24[image.Width * image.Height];
        image.CopyPixelDataTo(pixels);
        return pixels;
    }
}
