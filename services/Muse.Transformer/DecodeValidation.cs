using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using Muse.Hosting;
using Muse.Protos;
using Muse.Protos.V1;

namespace Muse.Transformer;

/// <summary>
/// Decode-specific checks on top of <see cref="MuseValidation"/>: tensors of an exact dtype and shape, and conditions
/// reported against a field given by its C# expression. Failures are InvalidArgument with a field violation.
/// </summary>
internal static class DecodeValidation
{
    /// <summary>Requires <paramref name="condition"/>; otherwise reports <paramref name="description"/> against the field <paramref name="value"/>.</summary>
    public static void Require<T>(
        [DoesNotReturnIf(false)] bool condition, T value, string description, [CallerArgumentExpression(nameof(value))] string field = "")
    {
        _ = value;   // Only its expression is used, as the field name.
        if (!condition)
        {
            MuseValidation.ThrowInvalidArgument(field, description);
        }
    }

    /// <summary>The elements of an int32 tensor of exactly <paramref name="shape"/>.</summary>
    public static int[] Int32(Tensor? tensor, long[] shape, [CallerArgumentExpression(nameof(tensor))] string field = "")
    {
        CheckHeader(tensor, DataType.Int32, shape, field);
        return TensorConvert.ToInt32(tensor, field);
    }

    /// <summary>The elements of a float32 tensor of exactly <paramref name="shape"/>.</summary>
    public static float[] Float32(Tensor? tensor, long[] shape, [CallerArgumentExpression(nameof(tensor))] string field = "")
    {
        CheckHeader(tensor, DataType.Float32, shape, field);
        return TensorConvert.ToFloat32(tensor, field);
    }

    // Everything TensorConvert would reject is checked here first, so that the client gets a field violation.
    private static void CheckHeader([NotNull] Tensor? tensor, DataType dtype, long[] shape, string field)
    {
        MuseValidation.NotNull(tensor, field);
        Require(tensor.Dtype == dtype, tensor.Dtype, $"must be {dtype}, not {tensor.Dtype}.", field);
        Require(
            TensorConvert.HasShape(tensor, shape),
            tensor.Shape,
            $"must have shape [{string.Join(", ", shape)}], not [{string.Join(", ", tensor.Shape)}].",
            field);
        var bytes = TensorConvert.ElementCount(shape) * sizeof(int);   // int32 and float32 alike
        Require(tensor.Data.Length == bytes, tensor.Data, $"must hold {bytes} bytes for its shape, not {tensor.Data.Length}.", field);
    }
}
