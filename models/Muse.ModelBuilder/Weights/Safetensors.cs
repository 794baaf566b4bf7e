using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Muse.ModelBuilder.Weights;

/// <summary>
/// The safetensors weight format (models/README.md): a little-endian u64 header length, a UTF-8 JSON header
/// <c>{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {string: string}}</c>, then the raw
/// little-endian data; offsets are relative to the end of the header. F32 and I64 tensors are read and written; F16
/// tensors are read, widened to F32.
/// </summary>
public static class Safetensors
{
    private const string MetadataKey = "__metadata__";

    // Header length is u64 but no real header approaches this; a larger value means a corrupt or foreign file.
    private const long MaxHeaderBytes = 100L * 1024 * 1024;

    /// <summary>
    /// Reads every tensor of the file at <paramref name="path"/>, one tensor at a time from the file, so files over
    /// 2 GB (a full-size checkpoint) read with no whole-file buffer.
    /// </summary>
    /// <exception cref="InvalidDataException">The file is not valid safetensors or uses an unsupported dtype.</exception>
    public static Dictionary<string, WeightTensor> Read(string path)
    {
        using var stream = File.OpenRead(path);
        return Read(stream, path);
    }

    /// <summary>
    /// The tensors of the file at <paramref name="path"/> with their shapes checked now but float data read from the
    /// file on each access (<see cref="WeightTensor.LazyFloat"/>): a checkpoint larger than memory is converted one
    /// tensor at a time. I64 tensors are read at once. The file must not change while the tensors are in use.
    /// </summary>
    /// <exception cref="InvalidDataException">The file is not valid safetensors or uses an unsupported dtype.</exception>
    public static Dictionary<string, WeightTensor> ReadLazy(string path)
    {
        var fullPath = Path.GetFullPath(path);
        using var stream = File.OpenRead(fullPath);
        return Read(stream, fullPath, lazy: true);
    }

    /// <summary>Reads every tensor of <paramref name="stream"/> (a stream that cannot seek is buffered first).</summary>
    public static Dictionary<string, WeightTensor> Read(Stream stream)
    {
        if (stream.CanSeek)
        {
            return Read(stream, "stream");
        }

        using var buffer = new MemoryStream();
        stream.CopyTo(buffer);
        buffer.Position = 0;
        return Read(buffer, "stream");
    }

    /// <summary>Reads the <c>__metadata__</c> map of the file at <paramref name="path"/> (empty when absent).</summary>
    public static Dictionary<string, string> ReadMetadata(string path)
    {
        using var stream = File.OpenRead(path);
        var (header, _) = ParseHeader(stream, path);
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        if (header[MetadataKey] is JsonObject map)
        {
            foreach (var (key, value) in map)
            {
                metadata[key] = value?.GetValue<string>() ?? "";
            }
        }

        return metadata;
    }

    /// <summary>Writes <paramref name="tensors"/> to <paramref name="path"/>, sorted by name.</summary>
    /// <param name="path">Destination file; replaced if it exists.</param>
    /// <param name="tensors">Name → tensor.</param>
    /// <param name="metadata">Optional <c>__metadata__</c> strings (e.g. provenance).</param>
    public static void Write(string path, IReadOnlyDictionary<string, WeightTensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        using var stream = File.Create(path);
        Write(stream, tensors, metadata);
    }

    /// <summary>Writes <paramref name="tensors"/> to <paramref name="stream"/>, sorted by name.</summary>
    public static void Write(Stream stream, IReadOnlyDictionary<string, WeightTensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var names = tensors.Keys.Order(StringComparer.Ordinal).ToList();
        var header = new JsonObject();
        if (metadata is { Count: > 0 })
        {
            var map = new JsonObject();
            foreach (var (key, value) in metadata.OrderBy(p => p.Key, StringComparer.Ordinal))
            {
                map[key] = value;
            }

            header[MetadataKey] = map;
        }

        var offset = 0L;
        foreach (var name in names)
        {
            if (name == MetadataKey)
            {
                throw new ArgumentException($"'{MetadataKey}' is reserved.", nameof(tensors));
            }

            var tensor = tensors[name];
            var length = tensor.ElementCount * ElementSize(tensor.DType);
            header[name] = new JsonObject
            {
                ["dtype"] = tensor.DType.ToString(),
                ["shape"] = new JsonArray([.. tensor.Shape.Select(d => (JsonNode)d)]),
                ["data_offsets"] = new JsonArray(offset, offset + length),
            };
            offset += length;
        }

        // The format pads the header with spaces so the data starts 8-byte aligned.
        var headerBytes = Encoding.UTF8.GetBytes(header.ToJsonString());
        var paddedLength = (headerBytes.Length + 7) / 8 * 8;
        var lengthPrefix = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(lengthPrefix, (ulong)paddedLength);
        stream.Write(lengthPrefix);
        stream.Write(headerBytes);
        for (var i = headerBytes.Length; i < paddedLength; i++)
        {
            stream.WriteByte((byte)' ');
        }

        foreach (var name in names)
        {
            var tensor = tensors[name];
            var bytes = tensor.DType == WeightDType.F32
                ? MemoryMarshal.AsBytes(tensor.FloatData.AsSpan())
                : MemoryMarshal.AsBytes(tensor.Int64Data.AsSpan());
            WriteLittleEndian(stream, bytes, ElementSize(tensor.DType));
        }
    }

    private static Dictionary<string, WeightTensor> Read(Stream stream, string source, bool lazy = false)
    {
        var (header, dataStart) = ParseHeader(stream, source);
        var dataLength = stream.Length - dataStart;
        var tensors = new Dictionary<string, WeightTensor>(StringComparer.Ordinal);
        foreach (var (name, node) in header)
        {
            if (name == MetadataKey)
            {
                continue;
            }

            if (node is not JsonObject entry
                || entry["dtype"]?.GetValue<string>() is not { } dtypeText
                || entry["shape"] is not JsonArray shapeArray
                || entry["data_offsets"] is not JsonArray { Count: 2 } offsets)
            {
                throw new InvalidDataException($"{source}: tensor '{name}' lacks dtype, shape or data_offsets.");
            }

            // F16 (half-precision checkpoints) is widened to F32 on read: the graphs are built in float32.
            var half = dtypeText == "F16";
            if (!half && !Enum.TryParse<WeightDType>(dtypeText, ignoreCase: false, out _))
            {
                throw new InvalidDataException($"{source}: tensor '{name}' has unsupported dtype {dtypeText} (F32, F16 and I64 are supported).");
            }

            var dtype = half ? WeightDType.F32 : Enum.Parse<WeightDType>(dtypeText);
            var shape = shapeArray.Select(d => d!.GetValue<long>()).ToArray();
            var begin = offsets[0]!.GetValue<long>();
            var end = offsets[1]!.GetValue<long>();
            var count = WeightTensor.ElementCountOf(shape);
            var expected = count * (half ? 2 : ElementSize(dtype));
            if (begin < 0 || end < begin || end > dataLength || end - begin != expected)
            {
                throw new InvalidDataException($"{source}: tensor '{name}' has data_offsets [{begin}, {end}] inconsistent with shape [{string.Join(", ", shape)}] {dtypeText} or the file length.");
            }

            var position = dataStart + begin;
            if (lazy && dtype == WeightDType.F32)
            {
                tensors[name] = WeightTensor.LazyFloat(() =>
                {
                    using var file = File.OpenRead(source);
                    file.Position = position;
                    return ReadFloats(file, count, half);
                }, shape);
                continue;
            }

            stream.Position = position;
            tensors[name] = dtype == WeightDType.F32 ? WeightTensor.Float(ReadFloats(stream, count, half), shape)
                : WeightTensor.Int64(ReadLittleEndian<long>(stream, count), shape);
        }

        return tensors;
    }

    private static (JsonObject Header, long DataStart) ParseHeader(Stream stream, string source)
    {
        Span<byte> prefix = stackalloc byte[8];
        if (stream.Length < 8)
        {
            throw new InvalidDataException($"{source}: too short for a safetensors file.");
        }

        stream.Position = 0;
        stream.ReadExactly(prefix);
        var headerLength = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
        if (headerLength > (ulong)Math.Min(MaxHeaderBytes, stream.Length - 8))
        {
            throw new InvalidDataException($"{source}: header length {headerLength} exceeds the file.");
        }

        var headerBytes = new byte[headerLength];
        stream.ReadExactly(headerBytes);
        try
        {
            var header = JsonNode.Parse(headerBytes) as JsonObject
                ?? throw new InvalidDataException($"{source}: header is not a JSON object.");
            return (header, 8 + (long)headerLength);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{source}: header is not valid JSON: {e.Message}", e);
        }
    }

    private static int ElementSize(WeightDType dtype) => dtype switch
    {
        WeightDType.F32 => 4,
        WeightDType.I64 => 8,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype)),
    };

    // Straight into the tensor's own array, in chunks: one tensor's bytes may exceed a span's int length.
    private static T[] ReadLittleEndian<T>(Stream stream, long count)
        where T : unmanaged
    {
        var size = Marshal.SizeOf<T>();
        var values = new T[count];
        const int chunk = 1 << 24;   // elements per read
        for (var start = 0L; start < count; start += chunk)
        {
            var target = MemoryMarshal.AsBytes(values.AsSpan((int)start, (int)Math.Min(chunk, count - start)));
            stream.ReadExactly(target);
            if (!BitConverter.IsLittleEndian)
            {
                ReverseEach(target, size);
            }
        }

        return values;
    }

    private static float[] ReadFloats(Stream stream, long count, bool half) =>
        half ? ReadHalves(stream, count) : ReadLittleEndian<float>(stream, count);

    private static float[] ReadHalves(Stream stream, long count)
    {
        var values = new float[count];
        var buffer = new byte[2 * (int)Math.Min(count, 1 << 20)];
        for (var start = 0L; start < count; start += buffer.Length / 2)
        {
            var n = (int)Math.Min(buffer.Length / 2, count - start);
            stream.ReadExactly(buffer, 0, 2 * n);
            for (var i = 0; i < n; i++)
            {
                values[start + i] = (float)BinaryPrimitives.ReadHalfLittleEndian(buffer.AsSpan(2 * i, 2));
            }
        }

        return values;
    }

    private static void WriteLittleEndian(Stream stream, ReadOnlySpan<byte> bytes, int elementSize)
    {
        if (BitConverter.IsLittleEndian)
        {
            stream.Write(bytes);
            return;
        }

        var copy = bytes.ToArray();
        ReverseEach(copy, elementSize);
        stream.Write(copy);
    }

    private static void ReverseEach(Span<byte> bytes, int elementSize)
    {
        for (var i = 0; i < bytes.Length; i += elementSize)
        {
            bytes.Slice(i, elementSize).Reverse();
        }
    }
}
