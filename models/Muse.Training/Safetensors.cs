using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using TorchSharp;
using static TorchSharp.torch;

namespace Muse.Training;

/// <summary>
/// Minimal safetensors writer for F32 and I64 tensors (u64 LE header length, JSON header, raw LE data).
/// Tensors are written in the given order; the header is padded with spaces to 8 bytes.
/// </summary>
internal static class Safetensors
{
    public static void Write(string path, IEnumerable<(string Name, Tensor Value)> tensors)
    {
        var blobs = new List<(string Name, string Dtype, long[] Shape, byte[] Data)>();
        foreach (var (name, value) in tensors)
        {
            using var cpu = value.detach().cpu().contiguous();
            if (cpu.dtype == ScalarType.Int64)
            {
                var data = cpu.data<long>().ToArray();
                var bytes = new byte[data.Length * 8];
                for (var i = 0; i < data.Length; i++)
                {
                    BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(i * 8), data[i]);
                }

                blobs.Add((name, "I64", cpu.shape, bytes));
            }
            else
            {
                using var f = cpu.to_type(ScalarType.Float32);
                var data = f.data<float>().ToArray();
                var bytes = new byte[data.Length * 4];
                for (var i = 0; i < data.Length; i++)
                {
                    BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4), data[i]);
                }

                blobs.Add((name, "F32", cpu.shape, bytes));
            }
        }

        var header = new Dictionary<string, object>();
        long offset = 0;
        foreach (var (name, dtype, shape, data) in blobs)
        {
            header[name] = new { dtype, shape, data_offsets = new[] { offset, offset + data.Length } };
            offset += data.Length;
        }

        var json = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(header));
        var padded = (json.Length + 7) / 8 * 8;
        var temp = path + ".tmp";
        using (var stream = File.Create(temp))
        {
            Span<byte> length = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)padded);
            stream.Write(length);
            stream.Write(json);
            for (var i = json.Length; i < padded; i++)
            {
                stream.WriteByte((byte)' ');
            }

            foreach (var blob in blobs)
            {
                stream.Write(blob.Data);
            }
        }

        File.Move(temp, path, overwrite: true);
    }

    /// <summary>Reads every tensor of a safetensors file (F32 and I64) into CPU tensors.</summary>
    public static Dictionary<string, Tensor> Read(string path)
    {
        var bytes = File.ReadAllBytes(path);
        var headerLength = (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        using var doc = JsonDocument.Parse(bytes.AsMemory(8, headerLength));
        var result = new Dictionary<string, Tensor>();
        var start = 8 + headerLength;
        foreach (var entry in doc.RootElement.EnumerateObject())
        {
            if (entry.Name == "__metadata__")
            {
                continue;
            }

            var dtype = entry.Value.GetProperty("dtype").GetString();
            var shape = entry.Value.GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()).ToArray();
            var offsets = entry.Value.GetProperty("data_offsets").EnumerateArray().Select(e => e.GetInt64()).ToArray();
            var span = bytes.AsSpan(start + (int)offsets[0], (int)(offsets[1] - offsets[0]));
            if (dtype == "I64")
            {
                var data = new long[span.Length / 8];
                for (var i = 0; i < data.Length; i++)
                {
                    data[i] = BinaryPrimitives.ReadInt64LittleEndian(span[(i * 8)..]);
                }

                result[entry.Name] = tensor(data, shape);
            }
            else if (dtype == "F32")
            {
                var data = new float[span.Length / 4];
                for (var i = 0; i < data.Length; i++)
                {
                    data[i] = BinaryPrimitives.ReadSingleLittleEndian(span[(i * 4)..]);
                }

                result[entry.Name] = tensor(data, shape);
            }
            else
            {
                throw new InvalidDataException($"{path}: unsupported dtype {dtype} of {entry.Name}.");
            }
        }

        return result;
    }
}
