using Google.Protobuf;
using Grpc.Core;
using Microsoft.Extensions.Options;
using Muse.Hosting;
using Muse.Imaging;
using Muse.Inference;
using Muse.Protos;
using Muse.Protos.V1;

namespace Muse.ImageTokenizer;

/// <summary><c>muse.v1.ImageTokenizer</c>: PNG/JPEG → VQGAN tokens, tokens → PNG or raw RGB.</summary>
public sealed class ImageTokenizerService(
    ServedModels<VqganModel> models, ImageUploadGuard guard, IOptions<ImageTokenizerOptions> options)
    : Protos.V1.ImageTokenizer.ImageTokenizerBase
{
    private readonly ImageTokenizerOptions _options = options.Value;

    public override Task<TokenizeReply> Tokenize(TokenizeRequest request, ServerCallContext context)
    {
        MuseValidation.NotEmpty(request.Image);
        var vqgan = models.Get(request.Model);

        // Read: everything about the upload is checked before its pixels are decoded.
        var upload = request.Image.Memory;
        var header = guard.Inspect(upload, "image");
        var (gridHeight, gridWidth) = CheckImageSize(header, vqgan.DownsampleFactor);
        using var image = guard.Load(upload, header, "image");

        // Preprocess, run.
        using var activity = MuseTelemetry.ActivitySource.StartActivity("ImageTokenizer.Tokenize");
        activity?.SetTag("muse.model", vqgan.Model.Manifest.Id);
        var pixels = PixelConvert.ToNchw(image); // [1, 3, H, W]
        var tokens = vqgan.Tokenize(pixels, header.Height, header.Width, context.CancellationToken); // [1, h, w]

        return Task.FromResult(new TokenizeReply
        {
            Tokens = TensorConvert.FromInt32(tokens, 1, gridHeight, gridWidth),
            Model = StageInfoService.MapRef(vqgan.Model.Manifest),
        });
    }

    public override Task<DetokenizeReply> Detokenize(DetokenizeRequest request, ServerCallContext context)
    {
        MuseValidation.NotNull(request.Tokens);
        MuseValidation.Require(
            request.Encoding is PixelEncoding.Png or PixelEncoding.Rgb24, $"must be PNG or RGB24, not {request.Encoding}.", "encoding");
        var vqgan = models.Get(request.Model);
        var (batch, height, width, tokens) = ReadTokens(request.Tokens, vqgan.CodebookSize);

        using var activity = MuseTelemetry.ActivitySource.StartActivity("ImageTokenizer.Detokenize");
        activity?.SetTag("muse.model", vqgan.Model.Manifest.Id);
        activity?.SetTag("muse.batch", batch);
        var f = vqgan.DownsampleFactor;
        var reply = new DetokenizeReply
        {
            Width = f * width,
            Height = f * height,
            Model = StageInfoService.MapRef(vqgan.Model.Manifest),
        };

        // Detokenize in chunks of rows so one run's activations stay bounded (MaxTokensPerRun).
        var perRun = Math.Max(1, _options.MaxTokensPerRun / (height * width));
        for (var start = 0; start < batch; start += perRun)
        {
            var count = Math.Min(perRun, batch - start);
            var chunk = tokens.AsSpan(start * height * width, count * height * width); // [count, h, w]
            var pixels = vqgan.Detokenize(chunk, count, height, width, context.CancellationToken); // [count, 3, f·h, f·w]
            for (var row = 0; row < count; row++)
            {
                var rgb = PixelConvert.ToRgb24(pixels, row, f * height, f * width);
                reply.Images.Add(request.Encoding == PixelEncoding.Rgb24
                    ? UnsafeByteOperations.UnsafeWrap(rgb) // rgb is ours alone and never written again
                    : ByteString.CopyFrom(PixelConvert.ToPng(rgb, f * height, f * width)));
            }
        }

        return Task.FromResult(reply);
    }

    /// <summary>The token grid of an image, or INVALID_ARGUMENT saying which sizes would work.</summary>
    private (int GridHeight, int GridWidth) CheckImageSize(UploadHeader header, int factor)
    {
        var (width, height) = (header.Width, header.Height);
        if (width % factor != 0 || height % factor != 0)
        {
            var suggestion = $"{Math.Max(factor, width / factor * factor)}×{Math.Max(factor, height / factor * factor)}";
            MuseValidation.ThrowInvalidArgument(
                "image", $"is {width}×{height} px; width and height must be multiples of {factor} (crop or pad to e.g. {suggestion}).");
        }

        var max = _options.MaxGridSide;
        if (width / factor > max || height / factor > max)
        {
            MuseValidation.ThrowInvalidArgument(
                "image", $"is {width}×{height} px; at most {max * factor}×{max * factor} px ({max}×{max} tokens) can be tokenized.");
        }

        return (height / factor, width / factor);
    }

    /// <summary>Validates an int32 [batch, h, w] tensor of ids in [0, K) and returns its elements.</summary>
    private (int Batch, int Height, int Width, int[] Tokens) ReadTokens(Tensor tensor, int codebookSize)
    {
        MuseValidation.Require(tensor.Dtype == DataType.Int32, $"must be INT32, not {tensor.Dtype}.", "tokens.dtype");
        MuseValidation.Require(
            tensor.Shape.Count == 3, $"must be [batch, grid_height, grid_width]; got rank {tensor.Shape.Count}.", "tokens.shape");
        var shape = tensor.Shape;
        MuseValidation.Require(shape[0] is >= 1 && shape[0] <= _options.MaxBatch,
            $"batch must be 1 to {_options.MaxBatch}; got {shape[0]}.", "tokens.shape");
        MuseValidation.Require(shape[1] is >= 1 && shape[1] <= _options.MaxGridSide && shape[2] is >= 1 && shape[2] <= _options.MaxGridSide,
            $"grid must be 1 to {_options.MaxGridSide} tokens per side; got {shape[1]}×{shape[2]}.", "tokens.shape");

        int[] tokens;
        try
        {
            tokens = TensorConvert.ToInt32(tensor, "tokens");
        }
        catch (ArgumentException ex)
        {
            MuseValidation.ThrowInvalidArgument("tokens", ex.Message);
            throw; // Unreachable.
        }

        for (var i = 0; i < tokens.Length; i++)
        {
            if ((uint)tokens[i] >= (uint)codebookSize)
            {
                var w = (int)shape[2];
                var h = (int)shape[1];
                MuseValidation.ThrowInvalidArgument(
                    "tokens.data",
                    $"holds {tokens[i]} at [{i / (h * w)}, {i / w % h}, {i % w}]; ids must be in [0, {codebookSize}) (the mask token cannot be decoded).");
            }
        }

        return ((int)shape[0], (int)shape[1], (int)shape[2], tokens);
    }
}
