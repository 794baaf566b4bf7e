using Google.Protobuf;
using Grpc.Core;
using Grpc.Health.V1;
using Muse.Protos;
using Muse.Protos.V1;
using Muse.Repository;
using SixLabors.ImageSharp.Formats.Png;
using SixLabors.ImageSharp.PixelFormats;
using Xunit.Abstractions;

namespace Muse.Services.Tests;

[Collection(ImageTokenizerStage.Name)]
public sealed class ImageTokenizerTests(ImageTokenizerHost fixture, ITestOutputHelper output)
{
    private int CodebookSize => fixture.Manifest.CodebookSize;

    private int Factor => fixture.Manifest.DownsampleFactor;

    [Fact]
    public async Task Detokenize_ValidTokens_ReturnsOnePngPerRowOfFactorTimesGrid()
    {
        var tokens = Grid(batch: 2, height: 4, width: 6);

        var reply = await fixture.Client.DetokenizeAsync(new DetokenizeRequest { Tokens = tokens });

        Assert.Equal(2, reply.Images.Count);
        Assert.Equal(6 * Factor, reply.Width);
        Assert.Equal(4 * Factor, reply.Height);
        Assert.All(reply.Images, png => Assert.Equal((6 * Factor, 4 * Factor), TestImages.DecodePng(png.ToByteArray())));
        Assert.Equal(ImageTokenizerHost.Model, $"{reply.Model.Name}/{reply.Model.Version}");
    }

    [Fact]
    public async Task Detokenize_SameGridTwiceInABatch_YieldsIdenticalPngs()
    {
        var single = TensorConvert.ToInt32(Grid(1, 3, 3), "tokens");
        var tokens = TensorConvert.FromInt32([.. single, .. single], 2, 3, 3);

        var reply = await fixture.Client.DetokenizeAsync(new DetokenizeRequest { Tokens = tokens });

        Assert.Equal(reply.Images[0], reply.Images[1]);
    }

    [Fact]
    public async Task Detokenize_Rgb24_ReturnsThePixelsOfThePng()
    {
        var tokens = Grid(batch: 2, height: 4, width: 6);

        var png = await fixture.Client.DetokenizeAsync(new DetokenizeRequest { Tokens = tokens });
        var raw = await fixture.Client.DetokenizeAsync(new DetokenizeRequest { Tokens = tokens, Encoding = PixelEncoding.Rgb24 });

        Assert.Equal((png.Width, png.Height), (raw.Width, raw.Height));
        for (var row = 0; row < 2; row++)
        {
            using var decoded = SixLabors.ImageSharp.Image.Load<Rgb24>(png.Images[row].Span);
            var expected = new byte[3 * decoded.Width * decoded.Height];
            decoded.CopyPixelDataTo(expected);
            Assert.Equal(expected, raw.Images[row].ToByteArray());
        }
    }

    [Fact]
    public async Task Detokenize_UnknownEncoding_ReturnsInvalidArgument()
    {
        var ex = await Errors.AssertStatusAsync(StatusCode.InvalidArgument, () => fixture.Client.DetokenizeAsync(
            new DetokenizeRequest { Tokens = Grid(1, 2, 2), Encoding = (PixelEncoding)7 }).ResponseAsync);

        Assert.Contains("encoding", ex.Status.Detail, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(0)] // replaced by CodebookSize: the mask token id, which cannot be decoded
    public async Task Detokenize_IdOutOfRange_ReturnsInvalidArgument(int id)
    {
        var values = TensorConvert.ToInt32(Grid(1, 2, 2), "tokens");
        values[3] = id == 0 ? CodebookSize : id;

        var ex = await Errors.AssertStatusAsync(StatusCode.InvalidArgument, () => fixture.Client.DetokenizeAsync(
            new DetokenizeRequest { Tokens = TensorConvert.FromInt32(values, 1, 2, 2) }).ResponseAsync);

        Assert.Equal("tokens.data", Errors.ViolatedField(ex));
        Assert.Contains("[0, 1, 1]", ex.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Detokenize_Float32Tokens_ReturnsInvalidArgument()
    {
        var tokens = TensorConvert.FromFloat32(new float[4], 1, 2, 2);

        var ex = await Errors.AssertStatusAsync(StatusCode.InvalidArgument,
            () => fixture.Client.DetokenizeAsync(new DetokenizeRequest { Tokens = tokens }).ResponseAsync);

        Assert.Equal("tokens.dtype", Errors.ViolatedField(ex));
    }

    [Fact]
    public async Task Detokenize_ByteLengthNotMatchingShape_ReturnsInvalidArgument()
    {
        var tokens = Grid(1, 2, 2);
        tokens.Data = ByteString.CopyFrom(tokens.Data.Span[..^2]);

        var ex = await Errors.AssertStatusAsync(StatusCode.InvalidArgument,
            () => fixture.Client.DetokenizeAsync(new DetokenizeRequest { Tokens = tokens }).ResponseAsync);

        Assert.Equal("tokens", Errors.ViolatedField(ex));
    }

    [Theory]
    [InlineData(new long[] { 2, 2 })]
    [InlineData(new long[] { 17, 2, 2 })]
    [InlineData(new long[] { 1, 65, 2 })]
    [InlineData(new long[] { 1, 0, 2 })]
    public async Task Detokenize_ShapeOutsideLimits_ReturnsInvalidArgument(long[] shape)
    {
        var tokens = new Tensor { Dtype = DataType.Int32, Shape = { shape } };
        tokens.Data = ByteString.CopyFrom(new byte[4 * shape.Aggregate(1L, (a, b) => a * b)]);

        var ex = await Errors.AssertStatusAsync(StatusCode.InvalidArgument,
            () => fixture.Client.DetokenizeAsync(new DetokenizeRequest { Tokens = tokens }).ResponseAsync);

        Assert.Equal("tokens.shape", Errors.ViolatedField(ex));
    }

    [Fact]
    public async Task Detokenize_MissingTokens_ReturnsInvalidArgument()
    {
        var ex = await Errors.AssertStatusAsync(StatusCode.InvalidArgument,
            () => fixture.Client.DetokenizeAsync(new DetokenizeRequest()).ResponseAsync);

        Assert.Equal("tokens", Errors.ViolatedField(ex));
    }

    [Fact]
    public async Task Tokenize_RenderedPng_ReturnsGridOfIdsInRange()
    {
        var png = TestImages.ScenePng(8 * Factor, 6 * Factor);

        var reply = await fixture.Client.TokenizeAsync(new TokenizeRequest { Image = ByteString.CopyFrom(png) });

        AssertGrid(reply.Tokens, 6, 8);
    }

    [Fact]
    public async Task Tokenize_Jpeg_ReturnsGridOfIdsInRange()
    {
        var jpeg = TestImages.SceneJpeg(4 * Factor, 4 * Factor);

        var reply = await fixture.Client.TokenizeAsync(new TokenizeRequest { Image = ByteString.CopyFrom(jpeg) });

        AssertGrid(reply.Tokens, 4, 4);
    }

    [Fact]
    public async Task Tokenize_TransparentPng_EqualsWhitePng()
    {
        var transparent = TestImages.SolidPng(2 * Factor, 2 * Factor, new Rgba32(10, 200, 30, 0));
        var white = TestImages.SolidPng(2 * Factor, 2 * Factor, new Rgba32(255, 255, 255, 255));

        var fromTransparent = await fixture.Client.TokenizeAsync(new TokenizeRequest { Image = ByteString.CopyFrom(transparent) });
        var fromWhite = await fixture.Client.TokenizeAsync(new TokenizeRequest { Image = ByteString.CopyFrom(white) });

        Assert.Equal(fromWhite.Tokens, fromTransparent.Tokens);
    }

    [Theory]
    [InlineData(PngColorType.Grayscale, PngBitDepth.Bit8)]
    [InlineData(PngColorType.Grayscale, PngBitDepth.Bit16)]
    [InlineData(PngColorType.RgbWithAlpha, PngBitDepth.Bit16)]
    [InlineData(PngColorType.Palette, PngBitDepth.Bit8)]
    public async Task Tokenize_PngOfOtherColourTypes_ReturnsGrid(PngColorType colourType, PngBitDepth bitDepth)
    {
        var png = TestImages.ScenePng(3 * Factor, 2 * Factor, colourType, bitDepth);

        var reply = await fixture.Client.TokenizeAsync(new TokenizeRequest { Image = ByteString.CopyFrom(png) });

        AssertGrid(reply.Tokens, 2, 3);
    }

    [Fact]
    public async Task Tokenize_UnknownModel_ReturnsNotFound()
    {
        var request = new TokenizeRequest { Image = ByteString.CopyFrom(TestImages.ScenePng(Factor, Factor)), Model = "vqgan/9" };

        await Errors.AssertStatusAsync(StatusCode.NotFound, () => fixture.Client.TokenizeAsync(request).ResponseAsync);
    }

    [Fact]
    public async Task Tokenize_DetokenizedImage_ReturnsValidGridOfSameSize()
    {
        var decoded = await fixture.Client.DetokenizeAsync(new DetokenizeRequest { Tokens = Grid(1, 5, 7) });

        var reply = await fixture.Client.TokenizeAsync(new TokenizeRequest { Image = decoded.Images[0] });

        AssertGrid(reply.Tokens, 5, 7);
    }

    [Theory]
    [InlineData("empty", StatusCode.InvalidArgument)]
    [InlineData("random bytes", StatusCode.InvalidArgument)]
    [InlineData("gif", StatusCode.InvalidArgument)]
    [InlineData("truncated png", StatusCode.InvalidArgument)]
    [InlineData("truncated png header", StatusCode.InvalidArgument)]
    [InlineData("png cut before IEND", StatusCode.InvalidArgument)]
    [InlineData("png cut at 90%", StatusCode.InvalidArgument)]
    [InlineData("truncated jpeg", StatusCode.InvalidArgument)]
    [InlineData("png declaring 100000x100000", StatusCode.ResourceExhausted)]
    [InlineData("png declaring 4096x8", StatusCode.ResourceExhausted)]
    [InlineData("over 8 MiB", StatusCode.ResourceExhausted)]
    [InlineData("1x1 png", StatusCode.InvalidArgument)]
    [InlineData("size not a multiple of the factor", StatusCode.InvalidArgument)]
    [InlineData("grid over 64x64", StatusCode.InvalidArgument)]
    public async Task Tokenize_BadUpload_ReturnsStatusAndServerStaysUp(string upload, StatusCode expected)
    {
        var bytes = BadUpload(upload);

        var ex = await Errors.AssertStatusAsync(expected,
            () => fixture.Client.TokenizeAsync(new TokenizeRequest { Image = ByteString.CopyFrom(bytes) }).ResponseAsync);

        output.WriteLine($"{upload}: {ex.StatusCode} {ex.Status.Detail}");
        Assert.False(string.IsNullOrWhiteSpace(ex.Status.Detail));
        if (expected == StatusCode.InvalidArgument)
        {
            Assert.Equal("image", Errors.ViolatedField(ex));
        }

        var health = await new Health.HealthClient(fixture.Host.Channel).CheckAsync(new HealthCheckRequest());
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, health.Status);
        var good = await fixture.Client.TokenizeAsync(
            new TokenizeRequest { Image = ByteString.CopyFrom(TestImages.ScenePng(2 * Factor, 2 * Factor)) });
        AssertGrid(good.Tokens, 2, 2);
    }

    [Fact]
    public async Task StageInfo_ListsTheLoadedTokenizer()
    {
        var info = await new StageInfo.StageInfoClient(fixture.Host.Channel).GetStageInfoAsync(new GetStageInfoRequest());

        var model = Assert.Single(info.Models);
        Assert.Equal(ImageTokenizerHost.Model, $"{model.Name}/{model.Version}");
        Assert.Equal(Stages.ImageTokenizer, model.Stage);
        Assert.Equal(CodebookSize, model.CodebookSize);
        Assert.Equal(Factor, model.DownsampleFactor);
    }

    [Fact]
    public async Task HealthCheck_Ready_IsServing()
    {
        var reply = await new Health.HealthClient(fixture.Host.Channel).CheckAsync(new HealthCheckRequest { Service = "ready" });

        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, reply.Status);
    }

    private byte[] BadUpload(string name) => name switch
    {
        "empty" => [],
        "random bytes" => TestImages.RandomBytes(4096),
        "gif" => TestImages.Gif(),
        "truncated png" => TestImages.NoisePng(8 * Factor, 8 * Factor) is var png ? png[..(png.Length / 2)] : [],
        "png cut before IEND" => TestImages.NoisePng(32 * Factor, 32 * Factor) is var whole ? whole[..^12] : [],
        "png cut at 90%" => TestImages.NoisePng(32 * Factor, 32 * Factor) is var big ? big[..(big.Length * 9 / 10)] : [],
        "truncated png header" => TestImages.ScenePng(8, 8)[..20],
        "truncated jpeg" => TestImages.SceneJpeg(16 * Factor, 16 * Factor) is var jpeg ? jpeg[..(jpeg.Length * 3 / 4)] : [],
        "png declaring 100000x100000" => TestImages.PngDeclaring(100_000, 100_000),
        "png declaring 4096x8" => TestImages.PngDeclaring(4096, 8),
        "over 8 MiB" => [.. TestImages.ScenePng(8, 8), .. new byte[8 * 1024 * 1024]],
        "1x1 png" => TestImages.ScenePng(1, 1),
        "size not a multiple of the factor" => TestImages.ScenePng((4 * Factor) + 3, 4 * Factor),
        "grid over 64x64" => TestImages.ScenePng(65 * Factor, Factor),
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, null),
    };

    /// <summary>Valid ids spread over the codebook, deterministic.</summary>
    private Tensor Grid(int batch, int height, int width)
    {
        var values = new int[batch * height * width]; // [batch, h, w]
        for (var i = 0; i < values.Length; i++)
        {
            values[i] = (int)(((i * 7919L) + 13) % CodebookSize);
        }

        return TensorConvert.FromInt32(values, batch, height, width);
    }

    private void AssertGrid(Tensor tokens, int height, int width)
    {
        Assert.Equal(DataType.Int32, tokens.Dtype);
        Assert.Equal([1L, height, width], tokens.Shape);
        Assert.All(TensorConvert.ToInt32(tokens, "tokens"), id => Assert.InRange(id, 0, CodebookSize - 1));
    }
}
