using System.Runtime.InteropServices;
using Google.Protobuf;
using Muse.ModelBuilder.Weights;
using Onnx;
using DataType = Onnx.TensorProto.Types.DataType;

namespace Muse.ModelBuilder.Graphs;

/// <summary>A tensor dimension of a graph input or output: a fixed size or a named dynamic axis.</summary>
public readonly record struct Dim(long Value, string? Param)
{
    /// <summary>A fixed size.</summary>
    public static implicit operator Dim(long value) => new(value, null);

    /// <summary>A named dynamic axis, e.g. <c>batch</c>.</summary>
    public static implicit operator Dim(string param) => new(0, param);
}

/// <summary>
/// Builds one ONNX graph (opset <see cref="Opset"/>, default domain only) out of plain operators, and holds
/// the layer helpers every architecture shares. Values are referred to by name; each helper returns the
/// name of its output. Initializers keep the weight-file names (the <c>Linear</c> weights transposed to
/// <c>[in, out]</c>), so a graph can be read against models/README.md. Not thread-safe.
/// </summary>
public sealed class GraphBuilder
{
    /// <summary>ONNX opset: 17 has <c>LayerNormalization</c>.</summary>
    public const int Opset = 17;

    /// <summary>IR version matching opset 17.</summary>
    public const long IrVersion = 8;

    /// <summary>Additive attention bias of a masked key; large enough that softmax gives it exactly 0.</summary>
    public const float MaskedKeyBias = -1e9f;

    private readonly GraphProto _graph;
    private readonly IReadOnlyDictionary<string, WeightTensor> _weights;
    private readonly HashSet<string> _names = new(StringComparer.Ordinal);
    private readonly Dictionary<float, string> _scalars = [];
    private readonly ExternalDataWriter? _externalData;

    /// <summary>Starts an empty graph named <paramref name="name"/> that reads weights from <paramref name="weights"/>.</summary>
    /// <param name="name">Graph name.</param>
    /// <param name="weights">Weights by name (lazy tensors are read once each).</param>
    /// <param name="externalData">
    /// When set, every float initializer above its threshold goes straight to its files as the graph is built (and, at
    /// <see cref="WeightPrecision.Fp16"/>, as fp16 behind a Cast), so the graph never holds the weights; default
    /// null keeps the data inline for <see cref="OnnxFileWriter"/>.
    /// </param>
    public GraphBuilder(string name, IReadOnlyDictionary<string, WeightTensor> weights, ExternalDataWriter? externalData = null)
    {
        _graph = new GraphProto { Name = name };
        _weights = weights;
        _externalData = externalData;
    }

    /// <summary>Declares a graph input and returns its name.</summary>
    public string Input(string name, DataType type, params Dim[] dims)
    {
        Claim(name);
        _graph.Input.Add(ValueInfo(name, type, dims));
        return name;
    }

    /// <summary>Renames <paramref name="value"/> to the graph output <paramref name="name"/> (through Identity).</summary>
    public void Output(string value, string name, DataType type, params Dim[] dims)
    {
        Claim(name);
        _graph.Node.Add(new NodeProto { OpType = "Identity", Name = name, Input = { value }, Output = { name } });
        _graph.Output.Add(ValueInfo(name, type, dims));
    }

    /// <summary>The finished model: IR <see cref="IrVersion"/>, opset <see cref="Opset"/>, producer metadata.</summary>
    /// <param name="metadata">Stored as model metadata properties (e.g. the architecture JSON).</param>
    public ModelProto Build(IReadOnlyDictionary<string, string>? metadata = null)
    {
        var model = new ModelProto
        {
            IrVersion = IrVersion,
            ProducerName = "Muse.ModelBuilder",
            ProducerVersion = "1",
            Graph = _graph,
            OpsetImport = { new OperatorSetIdProto { Domain = "", Version = Opset } },
        };
        foreach (var (key, value) in metadata ?? new Dictionary<string, string>())
        {
            model.MetadataProps.Add(new StringStringEntryProto { Key = key, Value = value });
        }

        return model;
    }

    // ---- initializers ------------------------------------------------------------------------------

    /// <summary>The weight <paramref name="name"/> as an initializer, shape as stored.</summary>
    public string Weight(string name) => Weight(name, Get(name).Shape);

    /// <summary>The weight <paramref name="name"/> as an initializer with another shape of the same size.</summary>
    public string Weight(string name, long[] shape)
    {
        var tensor = Get(name);
        return Initializer(name, tensor.Floats, shape);
    }

    /// <summary>A float initializer named <paramref name="name"/> (made unique if taken).</summary>
    public string Initializer(string name, float[] data, long[] shape)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (_externalData is not null && _externalData.Takes(data.Length))
        {
            var stored = new TensorProto { Name = Fresh(name) };
            stored.Dims.AddRange(shape);
            _externalData.Append(stored, data);
            _graph.Initializer.Add(stored);
            if (stored.DataType == (int)DataType.Float)
            {
                return stored.Name;
            }

            // fp16 storage, fp32 arithmetic: the Cast is folded into an fp32 initializer when the session loads.
            return OpNamed($"{stored.Name}.float", "Cast", [stored.Name], Attr.Int("to", (long)DataType.Float));
        }

        var tensor = new TensorProto
        {
            Name = Fresh(name),
            DataType = (int)DataType.Float,
            RawData = ByteString.CopyFrom(LittleEndianBytes(data)),
        };
        tensor.Dims.AddRange(shape);
        _graph.Initializer.Add(tensor);
        return tensor.Name;
    }

    /// <summary>An int64 initializer (shapes, axes, index tables).</summary>
    public string Int64Initializer(string name, long[] data, long[] shape)
    {
        var tensor = new TensorProto
        {
            Name = Fresh(name),
            DataType = (int)DataType.Int64,
            RawData = ByteString.CopyFrom(LittleEndianBytes(data)),
        };
        tensor.Dims.AddRange(shape);
        _graph.Initializer.Add(tensor);
        return tensor.Name;
    }

    /// <summary>A 1-D int64 constant.</summary>
    public string Int64s(params long[] values) => Int64Initializer("const", values, [values.Length]);

    /// <summary>A float scalar constant (shared between uses of the same value).</summary>
    public string Scalar(float value)
    {
        if (!_scalars.TryGetValue(value, out var name))
        {
            name = Initializer("scalar", [value], []);
            _scalars[value] = name;
        }

        return name;
    }

    // ---- nodes -------------------------------------------------------------------------------------

    /// <summary>Adds one node with a single output and returns the output's name.</summary>
    /// <param name="opType">ONNX operator, default domain.</param>
    /// <param name="inputs">Input value names; <c>""</c> for an omitted optional input.</param>
    /// <param name="attributes">Operator attributes, from <see cref="Attr"/>.</param>
    public string Op(string opType, string[] inputs, params AttributeProto[] attributes) =>
        OpNamed(opType, opType, inputs, attributes);

    /// <summary>As <see cref="Op"/>, with <paramref name="hint"/> naming the output (made unique).</summary>
    public string OpNamed(string hint, string opType, string[] inputs, params AttributeProto[] attributes)
    {
        var output = Fresh(hint);
        var node = new NodeProto { OpType = opType, Name = output, Output = { output } };
        node.Input.AddRange(inputs);
        node.Attribute.AddRange(attributes);
        _graph.Node.Add(node);
        return output;
    }

    /// <summary><c>a + b</c> (broadcasting).</summary>
    public string Add(string a, string b) => Op("Add", [a, b]);

    /// <summary><c>a · b</c> elementwise (broadcasting).</summary>
    public string Mul(string a, string b) => Op("Mul", [a, b]);

    /// <summary><c>a · s</c> for a float scalar.</summary>
    public string Mul(string a, float s) => Op("Mul", [a, Scalar(s)]);

    /// <summary>Matrix product (batched, broadcasting).</summary>
    public string MatMul(string a, string b) => Op("MatMul", [a, b]);

    /// <summary>Permutes axes.</summary>
    public string Transpose(string x, params long[] perm) => Op("Transpose", [x], Attr.Ints("perm", perm));

    /// <summary>Reshapes; 0 copies the input dimension, −1 is inferred.</summary>
    public string Reshape(string x, params long[] shape) => Op("Reshape", [x, Int64s(shape)]);

    /// <summary>Inserts size-1 axes.</summary>
    public string Unsqueeze(string x, params long[] axes) => Op("Unsqueeze", [x, Int64s(axes)]);

    /// <summary>Looks up rows of <paramref name="table"/> [rows, dim] for int64 <paramref name="ids"/>.</summary>
    public string Gather(string table, string ids) => Op("Gather", [table, ids], Attr.Int("axis", 0));

    /// <summary>Concatenates along <paramref name="axis"/>.</summary>
    public string Concat(long axis, params string[] values) => Op("Concat", values, Attr.Int("axis", axis));

    /// <summary>Casts to <paramref name="type"/>.</summary>
    public string Cast(string x, DataType type) => Op("Cast", [x], Attr.Int("to", (int)type));

    // ---- activations -------------------------------------------------------------------------------

    /// <summary>SiLU: <c>x · sigmoid(x)</c>.</summary>
    public string Silu(string x) => Mul(x, Op("Sigmoid", [x]));

    /// <summary>Exact GELU: <c>0.5 · x · (1 + erf(x / √2))</c> (opset 17 has no Gelu operator).</summary>
    public string Gelu(string x)
    {
        var erf = Op("Erf", [Mul(x, (float)(1 / Math.Sqrt(2)))]);
        return Mul(Mul(x, 0.5f), Add(erf, Scalar(1f)));
    }

    // ---- layers ------------------------------------------------------------------------------------

    /// <summary>
    /// PyTorch <c>Linear</c> named <paramref name="prefix"/>: <c>x · Wᵀ + b</c>. The weight [out, in] is stored
    /// transposed as [in, out] so the graph multiplies without a Transpose node.
    /// </summary>
    public string Linear(string x, string prefix, bool bias)
    {
        var weight = Get($"{prefix}.weight");
        var (outFeatures, inFeatures) = (weight.Shape[0], weight.Shape[1]);
        var source = weight.Floats;   // read once: a lazy tensor makes its data on every read
        var transposed = new float[source.Length];
        for (var o = 0; o < outFeatures; o++)
        {
            for (var i = 0; i < inFeatures; i++)
            {
                transposed[(i * outFeatures) + o] = source[(o * inFeatures) + i];
            }
        }

        var y = MatMul(x, Initializer($"{prefix}.weight", transposed, [inFeatures, outFeatures]));
        return bias ? Add(y, Weight($"{prefix}.bias")) : y;
    }

    /// <summary>LayerNorm over the last axis with weight and bias <c>{prefix}.weight/.bias</c>.</summary>
    public string LayerNorm(string x, string prefix, double eps) =>
        OpNamed($"{prefix}.out", "LayerNormalization", [x, Weight($"{prefix}.weight"), Weight($"{prefix}.bias")],
            Attr.Int("axis", -1), Attr.Float("epsilon", (float)eps));

    /// <summary>T5 RMSNorm over the last axis: <c>x / √(mean(x²) + eps) · w</c>, no mean subtraction, no bias.</summary>
    public string RmsNorm(string x, string prefix, double eps)
    {
        var meanSquare = Op("ReduceMean", [Mul(x, x)], Attr.Ints("axes", -1), Attr.Int("keepdims", 1));
        var rms = Op("Sqrt", [Add(meanSquare, Scalar((float)eps))]);
        return Mul(Op("Div", [x, rms]), Weight($"{prefix}.weight"));
    }

    /// <summary>
    /// GroupNorm of <paramref name="x"/> [B, C, H, W] with <paramref name="groups"/> groups and affine
    /// <c>{prefix}.weight/.bias</c> [C]: each group is flattened to one row of [B, G, C/G·H·W] and normalised by
    /// InstanceNormalization (per-row mean and biased variance), then reshaped back and scaled per channel.
    /// </summary>
    public string GroupNorm(string x, string prefix, int groups, double eps)
    {
        var channels = Get($"{prefix}.weight").Shape[0];
        var grouped = Reshape(x, 0, groups, -1);                                         // [B, G, C/G·H·W]
        var normalized = Op("InstanceNormalization",
            [grouped, Initializer("ones", Enumerable.Repeat(1f, groups).ToArray(), [groups]), Initializer("zeros", new float[groups], [groups])],
            Attr.Float("epsilon", (float)eps));
        var restored = Op("Reshape", [normalized, Op("Shape", [x])]);                   // [B, C, H, W]
        var scaled = Mul(restored, Weight($"{prefix}.weight", [channels, 1, 1]));
        return Add(scaled, Weight($"{prefix}.bias", [channels, 1, 1]));
    }

    /// <summary>PyTorch <c>Conv2d</c> named <paramref name="prefix"/> (weight [out, in, kh, kw] and bias [out]), symmetric padding.</summary>
    public string Conv2d(string x, string prefix, int stride, int padding)
    {
        var weight = Get($"{prefix}.weight");
        return OpNamed($"{prefix}.out", "Conv", [x, Weight($"{prefix}.weight"), Weight($"{prefix}.bias")],
            Attr.Ints("kernel_shape", weight.Shape[2], weight.Shape[3]),
            Attr.Ints("strides", stride, stride),
            Attr.Ints("pads", padding, padding, padding, padding));
    }

    /// <summary>
    /// PyTorch <c>Conv2d</c> named <paramref name="prefix"/> with ONNX <paramref name="pads"/>
    /// <c>[top, left, bottom, right]</c> (diffusers' asymmetric downsampling pads bottom/right only), an optional bias
    /// and <paramref name="groups"/> (the channel count for a depthwise convolution).
    /// </summary>
    public string Conv2d(string x, string prefix, int stride, long[] pads, bool bias, int groups = 1)
    {
        var weight = Get($"{prefix}.weight");
        string[] inputs = bias ? [x, Weight($"{prefix}.weight"), Weight($"{prefix}.bias")] : [x, Weight($"{prefix}.weight")];
        return OpNamed($"{prefix}.out", "Conv", inputs,
            Attr.Ints("kernel_shape", weight.Shape[2], weight.Shape[3]),
            Attr.Ints("strides", stride, stride),
            Attr.Ints("pads", pads),
            Attr.Int("group", groups));
    }

    /// <summary>LayerNorm over the last axis with weight <c>{prefix}.weight</c> and no bias.</summary>
    public string LayerNormNoBias(string x, string prefix, double eps) =>
        OpNamed($"{prefix}.out", "LayerNormalization", [x, Weight($"{prefix}.weight")],
            Attr.Int("axis", -1), Attr.Float("epsilon", (float)eps));

    /// <summary>Elements <paramref name="start"/>…<paramref name="end"/> − 1 of <paramref name="axis"/>.</summary>
    public string Slice(string x, long axis, long start, long end) =>
        Op("Slice", [x, Int64s(start), Int64s(end), Int64s(axis)]);

    /// <summary>
    /// VQGAN ResBlock named <paramref name="prefix"/>: <c>h = conv1(silu(norm1(x)))</c>, <c>h = conv2(silu(norm2(h)))</c>,
    /// output <c>shortcut(x) + h</c> where the shortcut is the 1×1 <c>{shortcut}</c> (default <c>nin_shortcut</c>; diffusers says <c>conv_shortcut</c>) when the width changes.
    /// </summary>
    public string ResBlock(string x, string prefix, int inChannels, int outChannels, int groups, double eps, string shortcut = "nin_shortcut")
    {
        var h = Conv2d(Silu(GroupNorm(x, $"{prefix}.norm1", groups, eps)), $"{prefix}.conv1", 1, 1);
        h = Conv2d(Silu(GroupNorm(h, $"{prefix}.norm2", groups, eps)), $"{prefix}.conv2", 1, 1);
        var skip = inChannels != outChannels ? Conv2d(x, $"{prefix}.{shortcut}", 1, 0) : x;
        return Add(skip, h);
    }

    /// <summary>
    /// Nearest-neighbour 2× upsampling of [B, C, H, W]: output pixel (y, x) reads input (⌊y/2⌋, ⌊x/2⌋), as PyTorch's
    /// <c>interpolate(scale_factor=2, mode="nearest")</c> (asymmetric coordinates, floor rounding).
    /// </summary>
    public string UpsampleNearest2x(string x) =>
        Op("Resize", [x, "", Initializer("upsample_scales", [1f, 1f, 2f, 2f], [4])],
            Attr.String("mode", "nearest"),
            Attr.String("coordinate_transformation_mode", "asymmetric"),
            Attr.String("nearest_mode", "floor"));

    /// <summary>
    /// Additive key bias [B, 1, 1, Tk] from a float key mask [B, Tk] (1 = attend, 0 = padding):
    /// <c>(mask − 1) · 1e9</c>, i.e. 0 or <see cref="MaskedKeyBias"/>.
    /// </summary>
    public string KeyMaskBias(string mask)
    {
        var bias = Mul(Op("Sub", [mask, Scalar(1f)]), -MaskedKeyBias);
        return Unsqueeze(bias, 1, 2);
    }

    /// <summary>
    /// Multi-head attention named <paramref name="prefix"/> with projections <c>{prefix}.{q,k,v,o}</c>.
    /// </summary>
    /// <param name="query">Query input [B, Tq, D].</param>
    /// <param name="context">Key/value input [B, Tk, D] (the query input for self-attention).</param>
    /// <param name="prefix">Weight prefix, e.g. <c>layers.0.self_attn</c>.</param>
    /// <param name="numHeads">Heads H; the head width is D/H.</param>
    /// <param name="bias">Whether the projections have biases.</param>
    /// <param name="scale">Score scale: 1/√(D/H) for the transformer, 1 for T5.</param>
    /// <param name="scoreBiases">Added to the scores [B, H, Tq, Tk] before softmax (broadcasting): position bias, key mask.</param>
    public string MultiHeadAttention(string query, string context, string prefix, int numHeads, bool bias, double scale, params string[] scoreBiases)
    {
        var q = SplitHeads(Linear(query, $"{prefix}.q", bias), numHeads);             // [B, H, Tq, dk]
        var k = SplitHeads(Linear(context, $"{prefix}.k", bias), numHeads);           // [B, H, Tk, dk]
        var v = SplitHeads(Linear(context, $"{prefix}.v", bias), numHeads);           // [B, H, Tk, dk]
        var scores = MatMul(q, Transpose(k, 0, 1, 3, 2));                              // [B, H, Tq, Tk]
        if (scale != 1.0)
        {
            scores = Mul(scores, (float)scale);
        }

        foreach (var scoreBias in scoreBiases)
        {
            scores = Add(scores, scoreBias);
        }

        var probabilities = OpNamed($"{prefix}.softmax", "Softmax", [scores], Attr.Int("axis", -1));
        var heads = MatMul(probabilities, v);                                          // [B, H, Tq, dk]
        var merged = Reshape(Transpose(heads, 0, 2, 1, 3), 0, 0, -1);                  // [B, Tq, D]
        return Linear(merged, $"{prefix}.o", bias);
    }

    private string SplitHeads(string x, int numHeads) => Transpose(Reshape(x, 0, 0, numHeads, -1), 0, 2, 1, 3);

    // ---- plumbing ----------------------------------------------------------------------------------

    private WeightTensor Get(string name) =>
        _weights.TryGetValue(name, out var tensor) ? tensor : throw new InvalidDataException($"Missing weight '{name}'.");

    private void Claim(string name)
    {
        if (!_names.Add(name))
        {
            throw new InvalidOperationException($"Graph value '{name}' is already defined.");
        }
    }

    private string Fresh(string hint)
    {
        if (_names.Add(hint))
        {
            return hint;
        }

        for (var i = 1; ; i++)
        {
            var candidate = $"{hint}_{i}";
            if (_names.Add(candidate))
            {
                return candidate;
            }
        }
    }

    private static ValueInfoProto ValueInfo(string name, DataType type, Dim[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var dim in dims)
        {
            shape.Dim.Add(dim.Param is { } param
                ? new TensorShapeProto.Types.Dimension { DimParam = param }
                : new TensorShapeProto.Types.Dimension { DimValue = dim.Value });
        }

        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)type, Shape = shape } },
        };
    }

    private static byte[] LittleEndianBytes<T>(T[] data)
        where T : unmanaged
    {
        var bytes = MemoryMarshal.AsBytes(data.AsSpan()).ToArray();
        if (!BitConverter.IsLittleEndian)
        {
            var size = Marshal.SizeOf<T>();
            for (var i = 0; i < bytes.Length; i += size)
            {
                bytes.AsSpan(i, size).Reverse();
            }
        }

        return bytes;
    }
}

/// <summary>Attribute constructors for <see cref="GraphBuilder.Op"/>.</summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Naming", "CA1720", Justification = "Named after the ONNX attribute types.")]
public static class Attr
{
    /// <summary>An integer attribute.</summary>
    public static AttributeProto Int(string name, long value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };

    /// <summary>An integer-list attribute.</summary>
    public static AttributeProto Ints(string name, params long[] values)
    {
        var attribute = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        attribute.Ints.AddRange(values);
        return attribute;
    }

    /// <summary>A float attribute.</summary>
    public static AttributeProto Float(string name, float value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = value };

    /// <summary>A string attribute.</summary>
    public static AttributeProto String(string name, string value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.String, S = ByteString.CopyFromUtf8(value) };

    /// <summary>A one-element float tensor attribute (e.g. ConstantOfShape's value).</summary>
    public static AttributeProto FloatTensor(string name, float value)
    {
        var tensor = new TensorProto { DataType = (int)TensorProto.Types.DataType.Float };
        tensor.Dims.Add(1);
        tensor.FloatData.Add(value);
        return new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Tensor, T = tensor };
    }
}
