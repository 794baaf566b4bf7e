using System.Runtime.InteropServices;
using Google.Protobuf;
using Muse.Protos.V1;

namespace Muse.Protos;

/// <summary>
/// Proto <see cref="Tensor"/> ↔ managed arrays. Tensors travel little-endian and row-major; this host is
/// little-endian (checked once), so conversion is a block copy.
/// </summary>
public static class TensorConvert
{
    static TensorConvert()
    {
        if (!BitConverter.IsLittleEndian)
        {
            throw new PlatformNotSupportedException("Tensor payloads are little-endian; big-endian hosts are not supported.");
        }
    }

    /// <summary>Builds an int32 tensor of <paramref name="shape"/> from <paramref name="values"/> (copied).</summary>
    public static Tensor FromInt32(ReadOnlySpan<int> values, params long[] shape) =>
        Create(DataType.Int32, MemoryMarshal.AsBytes(values), values.Length, shape);

    /// <summary>Builds a float32 tensor of <paramref name="shape"/> from <paramref name="values"/> (copied).</summary>
    public static Tensor FromFloat32(ReadOnlySpan<float> values, params long[] shape) =>
        Create(DataType.Float32, MemoryMarshal.AsBytes(values), values.Length, shape);

    /// <summary>The elements of an int32 tensor, after checking dtype, shape and byte length.</summary>
    /// <exception cref="ArgumentException">The tensor is malformed; the message names <paramref name="name"/>.</exception>
    public static int[] ToInt32(Tensor tensor, string name) =>
        MemoryMarshal.Cast<byte, int>(Checked(tensor, DataType.Int32, name)).ToArray();

    /// <summary>The elements of a float32 tensor, after checking dtype, shape and byte length.</summary>
    /// <exception cref="ArgumentException">The tensor is malformed; the message names <paramref name="name"/>.</exception>
    public static float[] ToFloat32(Tensor tensor, string name) =>
        MemoryMarshal.Cast<byte, float>(Checked(tensor, DataType.Float32, name)).ToArray();

    /// <summary>Number of elements a shape holds; throws on negative or overflowing dimensions.</summary>
    public static long ElementCount(IReadOnlyList<long> shape)
    {
        long count = 1;
        foreach (var dim in shape)
        {
            if (dim < 0)
            {
                throw new ArgumentException($"shape has a negative dimension ({dim}).");
            }

            count = checked(count * dim);
        }

        return count;
    }

    /// <summary>True when <paramref name="tensor"/>'s shape equals <paramref name="expected"/>.</summary>
    public static bool HasShape(Tensor tensor, params long[] expected) => tensor.Shape.SequenceEqual(expected);

    private static Tensor Create(DataType dtype, ReadOnlySpan<byte> bytes, int count, long[] shape)
    {
        if (ElementCount(shape) != count)
        {
            throw new ArgumentException($"shape [{string.Join(", ", shape)}] does not hold {count} elements.");
        }

        var tensor = new Tensor { Dtype = dtype, Data = ByteString.CopyFrom(bytes) };
        tensor.Shape.AddRange(shape);
        return tensor;
    }

    private static ReadOnlySpan<byte> Checked(Tensor? tensor, DataType dtype, string name)
    {
        if (tensor is null)
        {
            throw new ArgumentException($"{name} is missing.");
        }

        if (tensor.Dtype != dtype)
        {
            throw new ArgumentException($"{name} must be {dtype}, not {tensor.Dtype}.");
        }

        long count;
        try
        {
            count = ElementCount(tensor.Shape);
        }
        catch (Exception ex) when (ex is ArgumentException or OverflowException)
        {
            throw new ArgumentException($"{name}: {ex.Message}");
        }

        if (count * 4 != tensor.Data.Length)
        {
            throw new ArgumentException(
                $"{name} has shape [{string.Join(", ", tensor.Shape)}] ({count} elements) but {tensor.Data.Length} bytes; expected {count * 4}.");
        }

        return tensor.Data.Span;
    }
}
