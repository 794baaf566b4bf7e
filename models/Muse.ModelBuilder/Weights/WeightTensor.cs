namespace Muse.ModelBuilder.Weights;

/// <summary>Element types a weight tensor can hold (the safetensors <c>dtype</c> names).</summary>
public enum WeightDType
{
    /// <summary>32-bit IEEE float, little-endian.</summary>
    F32,

    /// <summary>64-bit signed integer, little-endian.</summary>
    I64,
}

/// <summary>
/// One named tensor of a weight file: a shape in PyTorch layout (e.g. <c>Linear.weight</c> is <c>[out, in]</c>)
/// and row-major data. Exactly one of <see cref="FloatData"/> and <see cref="Int64Data"/> is set, matching
/// <see cref="DType"/>. The arrays are not copied: the tensor shares them with its creator. A
/// <see cref="LazyFloat"/> tensor makes its data on every read instead of holding it, so a model larger than memory
/// can be written one tensor at a time.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Naming", "CA1720", Justification = "Factories are named after the element types.")]
public sealed record WeightTensor
{
    private readonly float[]? _floatData;
    private readonly Func<float[]>? _floatFactory;

    private WeightTensor(WeightDType dType, long[] shape, Func<float[]> floatFactory)
    {
        DType = dType;
        Shape = shape;
        _floatFactory = floatFactory;
    }

    private WeightTensor(WeightDType dType, long[] shape, float[]? floatData, long[]? int64Data)
    {
        var count = ElementCountOf(shape);
        var length = floatData?.LongLength ?? int64Data!.LongLength;
        if (count != length)
        {
            throw new ArgumentException($"Shape [{string.Join(", ", shape)}] holds {count} elements but {length} were given.");
        }

        DType = dType;
        Shape = shape;
        _floatData = floatData;
        Int64Data = int64Data;
    }

    /// <summary>Element type.</summary>
    public WeightDType DType { get; }

    /// <summary>Dimensions, outermost first; empty for a scalar.</summary>
    public long[] Shape { get; }

    /// <summary>Data of an <see cref="WeightDType.F32"/> tensor; null otherwise. A lazy tensor makes a new array per read.</summary>
    public float[]? FloatData => _floatData ?? MakeFloats();

    /// <summary>Data of an <see cref="WeightDType.I64"/> tensor; null otherwise.</summary>
    public long[]? Int64Data { get; }

    /// <summary>Number of elements (product of <see cref="Shape"/>).</summary>
    public long ElementCount => ElementCountOf(Shape);

    /// <summary>The float data; throws for a non-float tensor.</summary>
    public float[] Floats => FloatData ?? throw new InvalidOperationException($"Tensor is {DType}, not F32.");

    /// <summary>Wraps float data (not copied) with <paramref name="shape"/>.</summary>
    public static WeightTensor Float(float[] data, params long[] shape) => new(WeightDType.F32, shape, data, null);

    /// <summary>
    /// A float tensor whose data <paramref name="factory"/> makes on each read (not cached): only the tensor being
    /// written is in memory. The factory must return <c>ElementCountOf(shape)</c> elements, the same on every call.
    /// </summary>
    public static WeightTensor LazyFloat(Func<float[]> factory, params long[] shape) => new(WeightDType.F32, shape, factory);

    /// <summary>Wraps int64 data (not copied) with <paramref name="shape"/>.</summary>
    public static WeightTensor Int64(long[] data, params long[] shape) => new(WeightDType.I64, shape, null, data);

    /// <summary>Shape as text, e.g. <c>[512, 32]</c>.</summary>
    public string ShapeText => $"[{string.Join(", ", Shape)}]";

    /// <summary>Product of the dimensions (1 for a scalar).</summary>
    public static long ElementCountOf(IReadOnlyList<long> shape)
    {
        var count = 1L;
        foreach (var dim in shape)
        {
            if (dim < 0)
            {
                throw new ArgumentException("Dimensions must not be negative.", nameof(shape));
            }

            count = checked(count * dim);
        }

        return count;
    }

    private float[]? MakeFloats()
    {
        if (_floatFactory is null)
        {
            return null;
        }

        var data = _floatFactory();
        return data.LongLength == ElementCount
            ? data
            : throw new InvalidOperationException($"A lazy tensor {ShapeText} made {data.LongLength} elements.");
    }
}
