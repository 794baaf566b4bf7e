using Grpc.Core;
using Muse.Inference;
using Muse.Protos;
using Muse.Protos.V1;
using Muse.Repository;

namespace Muse.Services.Tests;

[Collection(TextEncoderStage.Name)]
public sealed class TextEncoderTests(TextEncoderHost fixture)
{
    private const string Circle = "a large red circle on the left";
    private const string Square = "a yellow square at the top";

    [Fact]
    public async Task Encode_TwoTexts_ReturnsEmbeddingsAndMaskOfModelShape()
    {
        var manifest = fixture.Manifest;

        var reply = await fixture.Client.EncodeAsync(new EncodeRequest { Texts = { Circle, Square } });

        Assert.Equal(DataType.Float32, reply.Embeddings.Dtype);
        Assert.Equal([2L, manifest.TextMaxLength, manifest.TextEmbeddingDim], reply.Embeddings.Shape);
        Assert.Equal(DataType.Int32, reply.Mask.Dtype);
        Assert.Equal([2L, manifest.TextMaxLength], reply.Mask.Shape);
        var embeddings = TensorConvert.ToFloat32(reply.Embeddings, "embeddings");
        Assert.All(embeddings, value => Assert.True(float.IsFinite(value)));
        Assert.Equal(new ModelRef { Name = manifest.Name, Version = manifest.Version }, reply.Model);
    }

    [Fact]
    public async Task Encode_TwoTexts_MaskRowsSumToTokenCounts()
    {
        var reply = await fixture.Client.EncodeAsync(new EncodeRequest { Texts = { Circle, Square } });

        var length = fixture.Manifest.TextMaxLength;
        var mask = TensorConvert.ToInt32(reply.Mask, "mask");
        Assert.Equal(2, reply.TokenCounts.Count);
        for (var row = 0; row < 2; row++)
        {
            var maskRow = mask.AsSpan(row * length, length).ToArray();
            Assert.Equal(reply.TokenCounts[row], maskRow.Sum());
            // Real tokens first, then padding: the mask is a prefix of ones.
            Assert.All(maskRow.Take(reply.TokenCounts[row]), m => Assert.Equal(1, m));
            Assert.All(maskRow.Skip(reply.TokenCounts[row]), m => Assert.Equal(0, m));
            Assert.InRange(reply.TokenCounts[row], 2, length);
        }
    }

    [Fact]
    public async Task Encode_SameTextTwice_YieldsIdenticalRows()
    {
        var reply = await fixture.Client.EncodeAsync(new EncodeRequest { Texts = { Circle, Circle } });

        var (first, second) = Rows(reply);
        Assert.Equal(first, second);
        Assert.Equal(reply.TokenCounts[0], reply.TokenCounts[1]);
    }

    [Fact]
    public async Task Encode_DifferentTexts_YieldDifferentRows()
    {
        var reply = await fixture.Client.EncodeAsync(new EncodeRequest { Texts = { Circle, Square } });

        var (first, second) = Rows(reply);
        Assert.NotEqual(first, second);
    }

    [Fact]
    public async Task Encode_SameTextInDifferentBatches_YieldsIdenticalRows()
    {
        var alone = await fixture.Client.EncodeAsync(new EncodeRequest { Texts = { Square } });
        var batched = await fixture.Client.EncodeAsync(new EncodeRequest { Texts = { Circle, Square } });

        Assert.Equal(Rows(alone, 1)[0], Rows(batched, 2)[1]);
    }

    [Fact]
    public async Task Encode_EmptyText_IsEndOfSequenceOnly()
    {
        var reply = await fixture.Client.EncodeAsync(new EncodeRequest { Texts = { "" } });

        Assert.Equal([1], reply.TokenCounts);
        Assert.Equal(1, TensorConvert.ToInt32(reply.Mask, "mask").Sum());
    }

    [Fact]
    public async Task Encode_CaseAndSpacingVariant_MatchesNormalizedTextWhenManifestLowercases()
    {
        Assert.True(fixture.Manifest.LowercaseText, "the random T5 is built to lower-case its input");

        var reply = await fixture.Client.EncodeAsync(new EncodeRequest { Texts = { Circle, "  A LARGE  Red\tcircle on the LEFT " } });

        var (first, second) = Rows(reply);
        Assert.Equal(first, second);
    }

    [Fact]
    public async Task Encode_TextOverMaxLength_ReturnsInvalidArgumentNamingTheText()
    {
        var tooLong = string.Join(' ', Enumerable.Repeat("a red circle left of a blue square", 12));

        var ex = await Errors.AssertStatusAsync(StatusCode.InvalidArgument,
            () => fixture.Client.EncodeAsync(new EncodeRequest { Texts = { Circle, tooLong } }).ResponseAsync);

        Assert.Equal("texts[1]", Errors.ViolatedField(ex));
        Assert.Contains($"at most {fixture.Manifest.TextMaxLength}", ex.Status.Detail, StringComparison.Ordinal);
        Assert.Contains("tokens", ex.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Encode_EmptyList_ReturnsInvalidArgument()
    {
        var ex = await Errors.AssertStatusAsync(StatusCode.InvalidArgument,
            () => fixture.Client.EncodeAsync(new EncodeRequest()).ResponseAsync);

        Assert.Equal("texts", Errors.ViolatedField(ex));
    }

    [Fact]
    public async Task Encode_MoreThan64Texts_ReturnsInvalidArgument()
    {
        var request = new EncodeRequest { Texts = { Enumerable.Repeat(Circle, 65) } };

        var ex = await Errors.AssertStatusAsync(StatusCode.InvalidArgument,
            () => fixture.Client.EncodeAsync(request).ResponseAsync);

        Assert.Equal("texts", Errors.ViolatedField(ex));
    }

    [Fact]
    public async Task Encode_TextOver2000Characters_ReturnsInvalidArgument()
    {
        var request = new EncodeRequest { Texts = { new string('a', 2001) } };

        var ex = await Errors.AssertStatusAsync(StatusCode.InvalidArgument,
            () => fixture.Client.EncodeAsync(request).ResponseAsync);

        Assert.Equal("texts[0]", Errors.ViolatedField(ex));
    }

    [Fact]
    public async Task Encode_UnknownModel_ReturnsNotFoundListingLoadedModels()
    {
        var request = new EncodeRequest { Texts = { Circle }, Model = "no-such-model/7" };

        var ex = await Errors.AssertStatusAsync(StatusCode.NotFound,
            () => fixture.Client.EncodeAsync(request).ResponseAsync);

        Assert.Contains(TextEncoderHost.Model, ex.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Encode_NamedModel_IsServedByThatModel()
    {
        var reply = await fixture.Client.EncodeAsync(new EncodeRequest { Texts = { Circle }, Model = TextEncoderHost.Model });

        Assert.Equal(TextEncoderHost.Model, $"{reply.Model.Name}/{reply.Model.Version}");
    }

    [Fact]
    public async Task StageInfo_ListsTheLoadedEncoder()
    {
        var info = await new StageInfo.StageInfoClient(fixture.Host.Channel).GetStageInfoAsync(new GetStageInfoRequest());

        var model = Assert.Single(info.Models);
        Assert.Equal(TextEncoderHost.Model, $"{model.Name}/{model.Version}");
        Assert.Equal(Stages.TextEncoder, model.Stage);
        Assert.Equal(fixture.Manifest.TextEmbeddingDim, model.TextEmbeddingDim);
        Assert.Equal(fixture.Manifest.TextMaxLength, model.TextMaxLength);
        Assert.Equal("CPU", info.ExecutionProvider);
        Assert.Contains(Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture), info.Instance, StringComparison.Ordinal);
    }

    private static (byte[] First, byte[] Second) Rows(EncodeReply reply)
    {
        var rows = Rows(reply, 2);
        return (rows[0], rows[1]);
    }

    private static byte[][] Rows(EncodeReply reply, int count)
    {
        var bytes = reply.Embeddings.Data.ToByteArray();
        var rowBytes = bytes.Length / count;
        return Enumerable.Range(0, count).Select(r => bytes.AsSpan(r * rowBytes, rowBytes).ToArray()).ToArray();
    }
}
