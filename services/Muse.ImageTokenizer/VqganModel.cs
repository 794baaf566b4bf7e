using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Muse.Inference;

namespace Muse.ImageTokenizer;

/// <summary>
/// The VQGAN graphs of one loaded image-tokenizer model: pixels in [-1, 1] ⇄ codebook ids (tokenize with the
/// encoder graph, detokenize with the decoder graph). Built once per model at start-up
/// (<see cref="ServedModels{TModel}"/>); stateless, safe to share.
/// </summary>
public sealed class VqganModel
{
    private readonly OnnxModel _encoder;
    private readonly OnnxModel _decoder;
    private readonly string _encoderInput;
    private readonly string _encoderOutput;
    private readonly string _decoderInput;
    private readonly string _decoderOutput;

    /// <summary>Wraps the <c>encoder</c> and <c>decoder</c> graphs of <paramref name="model"/>.</summary>
    public VqganModel(LoadedModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        Model = model;
        _encoder = model.Graph("encoder");
        _decoder = model.Graph("decoder");
        _encoderInput = model.InputName("encoder", "image");
        _encoderOutput = model.OutputName("encoder", "tokens");
        _decoderInput = model.InputName("decoder", "tokens");
        _decoderOutput = model.OutputName("decoder", "image");
    }

    /// <summary>The model version.</summary>
    public LoadedModel Model { get; }

    /// <summary>Codebook entries K; valid ids are [0, K).</summary>
    public int CodebookSize => Model.Manifest.CodebookSize;

    /// <summary>Pixels per token side f.</summary>
    public int DownsampleFactor => Model.Manifest.DownsampleFactor;

    /// <summary>Tokenizes one image, pixels in [-1, 1], NCHW [1, 3, height, width], into ids [1, height/f, width/f].</summary>
    public int[] Tokenize(float[] pixels, int height, int width, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(pixels);
        using var input = OrtValue.CreateTensorValueFromMemory(pixels, [1, 3, height, width]); // [1, 3, H, W]
        using var outputs = _encoder.Run(new Dictionary<string, OrtValue> { [_encoderInput] = input }, cancellationToken);
        var tokens = outputs[IndexOf(_encoder.OutputNames, _encoderOutput)];
        var expected = (long)(height / DownsampleFactor) * (width / DownsampleFactor);
        var shape = tokens.GetTensorTypeAndShape();
        if (shape.ElementCount != expected)
        {
            throw new InvalidOperationException(
                $"{Model.Manifest.Id} encoder returned [{string.Join(", ", shape.Shape)}]; expected {expected} tokens.");
        }

        return ToInt32(tokens);
    }

    /// <summary>
    /// Detokenizes ids [batch, h, w] into pixels [batch, 3, f·h, f·w], not yet clamped (the decoder can overshoot).
    /// </summary>
    public float[] Detokenize(ReadOnlySpan<int> tokens, int batch, int height, int width, CancellationToken cancellationToken)
    {
        var ids = new long[tokens.Length]; // [batch, h, w]
        for (var i = 0; i < ids.Length; i++)
        {
            ids[i] = tokens[i];
        }

        using var input = OrtValue.CreateTensorValueFromMemory(ids, [batch, height, width]);
        using var outputs = _decoder.Run(new Dictionary<string, OrtValue> { [_decoderInput] = input }, cancellationToken);
        var image = outputs[IndexOf(_decoder.OutputNames, _decoderOutput)];
        var f = DownsampleFactor;
        var shape = image.GetTensorTypeAndShape().Shape; // [batch, 3, f·h, f·w]
        if (shape is not [var b, 3, var h, var w] || b != batch || h != f * height || w != f * width)
        {
            throw new InvalidOperationException(
                $"{Model.Manifest.Id} decoder returned [{string.Join(", ", shape)}]; expected [{batch}, 3, {f * height}, {f * width}].");
        }

        return image.GetTensorDataAsSpan<float>().ToArray();
    }

    private static int[] ToInt32(OrtValue value)
    {
        var type = value.GetTensorTypeAndShape().ElementDataType;
        switch (type)
        {
            case TensorElementType.Int64:
                var wide = value.GetTensorDataAsSpan<long>();
                var narrow = new int[wide.Length];
                for (var i = 0; i < wide.Length; i++)
                {
                    narrow[i] = checked((int)wide[i]);
                }

                return narrow;
            case TensorElementType.Int32:
                return value.GetTensorDataAsSpan<int>().ToArray();
            default:
                throw new InvalidOperationException($"Encoder tokens are {type}; expected Int64 or Int32.");
        }
    }

    private static int IndexOf(IReadOnlyList<string> names, string name)
    {
        for (var i = 0; i < names.Count; i++)
        {
            if (names[i] == name)
            {
                return i;
            }
        }

        throw new InvalidOperationException($"The graph has no output '{name}'; it has {string.Join(", ", names)}.");
    }
}
