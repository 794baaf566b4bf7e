using Google.Protobuf;
using Grpc.Core;
using Muse.Protos.V1;
using Muse.Testing;
using SixLabors.ImageSharp.Formats.Png;

namespace Muse.EndToEnd.Tests;

/// <summary>
/// Untrusted uploads through the public Edit call: each bad image or mask gets its status with a message, good
/// images of unusual kinds are edited, and the orchestrator keeps serving.
/// </summary>
[Collection(SharedCluster.Name)]
public sealed class EditBadInputTests(ClusterFixture fixture)
{
    private const int Size = 128;

    public static TheoryData<string, StatusCode> Catalogue => new()
    {
        { "truncated png", StatusCode.InvalidArgument },
        { "random bytes", StatusCode.InvalidArgument },
        { "gif", StatusCode.InvalidArgument },
        { "decompression bomb png declaring 100000x100000", StatusCode.ResourceExhausted },
        { "over 8 MiB", StatusCode.ResourceExhausted },
        { "1x1 image", StatusCode.InvalidArgument },
        { "not square", StatusCode.InvalidArgument },
        { "mask of wrong size", StatusCode.InvalidArgument },
        { "truncated mask", StatusCode.InvalidArgument },
        { "mask declaring 100000x100000", StatusCode.ResourceExhausted },
        { "all-black mask", StatusCode.InvalidArgument },
        { "no mode", StatusCode.InvalidArgument },
        { "outpaint without margins", StatusCode.InvalidArgument },
        { "outpaint negative margin", StatusCode.InvalidArgument },
        { "outpaint margin over 4x", StatusCode.InvalidArgument },
        { "mask-free 0 iterations", StatusCode.InvalidArgument },
        { "mask-free fraction 0", StatusCode.InvalidArgument },
        { "dilation 5", StatusCode.InvalidArgument },
        { "empty prompt", StatusCode.InvalidArgument },
        { "grayscale 16-bit png", StatusCode.OK },
        { "grayscale png", StatusCode.OK },
        { "rgba png", StatusCode.OK },
        { "rgb 16-bit png", StatusCode.OK },
        { "cmyk jpeg", StatusCode.OK },
    };

    [Theory]
    [MemberData(nameof(Catalogue))]
    public async Task Edit_Upload_GetsItsStatusAndServerKeepsServing(string name, StatusCode expected)
    {
        var request = Request(name);

        var status = StatusCode.OK;
        var detail = "";
        try
        {
            var events = await fixture.EditAsync(request);
            Assert.NotNull(events[^1].Result);
        }
        catch (RpcException ex)
        {
            (status, detail) = (ex.StatusCode, ex.Status.Detail);
        }

        Assert.True(status == expected, $"{name}: expected {expected}, got {status} {detail}");
        Assert.True(expected == StatusCode.OK || !string.IsNullOrWhiteSpace(detail), $"{name}: no message");
        var models = await fixture.Client.ListModelsAsync(new ListModelsRequest());
        Assert.NotEmpty(models.Pipelines);
    }

    [Fact]
    public async Task Edit_MaskOfWrongSize_MessageNamesBothSizes()
    {
        var request = EditSamples.Inpaint(EditSamples.ScenePng(Size, Size), EditSamples.MaskPng(64, 64, 0, 0, 32, 32), seed: 1);

        var error = await Assert.ThrowsAsync<RpcException>(() => fixture.EditAsync(request));

        Assert.Contains("64×64", error.Status.Detail, StringComparison.Ordinal);
        Assert.Contains($"{Size}×{Size}", error.Status.Detail, StringComparison.Ordinal);
    }

    // A handful of mutated files through the real call (the guard's own test runs hundreds): each is edited or
    // refused with INVALID_ARGUMENT or RESOURCE_EXHAUSTED, and the orchestrator stays up.
    [Fact]
    public async Task Edit_MutatedImages_EditedOrRefusedWithAStatus()
    {
        var mask = EditSamples.MaskPng(Size, Size, 0, 0, Size / 2, Size / 2);
        foreach (var (name, bytes) in UploadSamples.Mutations(EditSamples.ScenePng(Size, Size), 12, salt: 77))
        {
            var request = EditSamples.Inpaint(bytes, mask, seed: 1);
            request.Decoding = new DecodingOptions { BaseSteps = 1, SrSteps = 1 };
            try
            {
                await fixture.EditAsync(request);
            }
            catch (RpcException ex)
            {
                Assert.True(
                    ex.StatusCode is StatusCode.InvalidArgument or StatusCode.ResourceExhausted,
                    $"{name}: {ex.StatusCode} {ex.Status.Detail}");
            }
        }

        Assert.NotEmpty((await fixture.Client.ListModelsAsync(new ListModelsRequest())).Pipelines);
    }

    private static EditRequest Request(string name)
    {
        var image = EditSamples.ScenePng(Size, Size);
        var mask = EditSamples.MaskPng(Size, Size, 0, 0, Size / 2, Size / 2);
        EditRequest Inpaint(byte[] i, byte[] m) => Fast(EditSamples.Inpaint(i, m, seed: 1));
        return name switch
        {
            "truncated png" => Inpaint(image[..(image.Length / 2)], mask),
            "random bytes" => Inpaint([0x42, .. Enumerable.Range(0, 4096).Select(i => (byte)(i * 37))], mask),
            "gif" => Inpaint("GIF89a"u8.ToArray().Concat(new byte[64]).ToArray(), mask),
            "decompression bomb png declaring 100000x100000" => Inpaint(UploadSamples.PngDeclaring(100_000, 100_000), mask),
            "over 8 MiB" => Inpaint([.. image, .. new byte[8 * 1024 * 1024]], mask),
            "1x1 image" => Inpaint(EditSamples.ScenePng(1, 1), EditSamples.MaskPng(1, 1, 0, 0, 1, 1)),
            "not square" => Inpaint(EditSamples.ScenePng(Size, Size / 2), EditSamples.MaskPng(Size, Size / 2, 0, 0, 8, 8)),
            "mask of wrong size" => Inpaint(image, EditSamples.MaskPng(Size / 2, Size / 2, 0, 0, 8, 8)),
            "truncated mask" => Inpaint(image, mask[..(mask.Length - 20)]),
            "mask declaring 100000x100000" => Inpaint(image, UploadSamples.PngDeclaring(100_000, 100_000)),
            "all-black mask" => Inpaint(image, EditSamples.MaskPng(Size, Size, 0, 0, 0, 0)),
            "no mode" => Fast(new EditRequest { Image = ByteString.CopyFrom(image), Prompt = EditSamples.Prompt }),
            "outpaint without margins" => Fast(EditSamples.Outpaint(image, 0, 0, 0, 0, seed: 1)),
            "outpaint negative margin" => Fast(EditSamples.Outpaint(image, -8, 16, 0, 0, seed: 1)),
            "outpaint margin over 4x" => Fast(EditSamples.Outpaint(image, 0, (4 * Size) + 1, 0, 0, seed: 1)),
            "mask-free 0 iterations" => Fast(EditSamples.MaskFree(image, iterations: 0, seed: 1)),
            "mask-free fraction 0" => Fast(WithFraction(EditSamples.MaskFree(image, iterations: 1, seed: 1), 0)),
            "dilation 5" => WithDilation(Inpaint(image, mask), 5),
            "empty prompt" => WithPrompt(Inpaint(image, mask), ""),
            "grayscale 16-bit png" => Inpaint(EditSamples.ScenePng(Size, Size, PngColorType.Grayscale, PngBitDepth.Bit16), mask),
            "grayscale png" => Inpaint(EditSamples.ScenePng(Size, Size, PngColorType.Grayscale, PngBitDepth.Bit8), mask),
            "rgba png" => Inpaint(EditSamples.ScenePng(Size, Size, PngColorType.RgbWithAlpha, PngBitDepth.Bit8), mask),
            "rgb 16-bit png" => Inpaint(EditSamples.ScenePng(Size, Size, PngColorType.Rgb, PngBitDepth.Bit16), mask),
            "cmyk jpeg" => Inpaint(UploadSamples.CmykJpeg(Size, Size), mask),
            _ => throw new ArgumentOutOfRangeException(nameof(name), name, null),
        };
    }

    private static EditRequest Fast(EditRequest request)
    {
        request.Decoding = new DecodingOptions { BaseSteps = 1, SrSteps = 1 };
        return request;
    }

    private static EditRequest WithFraction(EditRequest request, float fraction)
    {
        request.MaskFree.MaskFraction = fraction;
        return request;
    }

    private static EditRequest WithDilation(EditRequest request, int dilation)
    {
        request.Inpaint.Dilation = dilation;
        return request;
    }

    private static EditRequest WithPrompt(EditRequest request, string prompt)
    {
        request.Prompt = prompt;
        return request;
    }
}
