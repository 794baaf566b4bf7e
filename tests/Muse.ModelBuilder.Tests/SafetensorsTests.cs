using System.Buffers.Binary;
using System.Text;
using Muse.ModelBuilder.Weights;

namespace Muse.ModelBuilder.Tests;

public sealed class SafetensorsTests
{
    [Fact]
    public void Write_ThenRead_RoundTripsF32AndI64WithMetadata()
    {
        var tensors = new Dictionary<string, WeightTensor>
        {
            ["b.weight"] = WeightTensor.Float([1.5f, -2f, 3.25f, float.Epsilon, 0f, -0f], 2, 3),
            ["a.ids"] = WeightTensor.Int64([long.MinValue, -1, 0, long.MaxValue], 4),
            ["scalar"] = WeightTensor.Float([42f]),
        };
        using var stream = new MemoryStream();

        Safetensors.Write(stream, tensors, new Dictionary<string, string> { ["seed"] = "1" });
        stream.Position = 0;
        var read = Safetensors.Read(stream);

        Assert.Equal(tensors.Keys.Order(), read.Keys.Order());
        foreach (var (name, tensor) in tensors)
        {
            Assert.Equal(tensor.DType, read[name].DType);
            Assert.Equal(tensor.Shape, read[name].Shape);
            Assert.Equal(tensor.FloatData, read[name].FloatData);
            Assert.Equal(tensor.Int64Data, read[name].Int64Data);
        }
    }

    [Fact]
    public void Write_Always_ProducesStandardLayout()
    {
        var tensors = new Dictionary<string, WeightTensor> { ["w"] = WeightTensor.Float([1f, 2f], 2) };
        using var stream = new MemoryStream();

        Safetensors.Write(stream, tensors);
        var bytes = stream.ToArray();

        var headerLength = (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        Assert.Equal(0, headerLength % 8);
        var header = Encoding.UTF8.GetString(bytes, 8, headerLength).TrimEnd(' ');
        Assert.Equal("""{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""", header);
        Assert.Equal(8 + headerLength + 8, bytes.Length);
        Assert.Equal(2f, BitConverter.ToSingle(bytes, 8 + headerLength + 4));
    }

    [Fact]
    public void Read_FileWithMetadata_ReturnsMetadata()
    {
        using var directory = new TempDirectory();
        var path = Path.Combine(directory.Path, "w.safetensors");
        Safetensors.Write(path, new Dictionary<string, WeightTensor> { ["w"] = WeightTensor.Float([1f], 1) }, new Dictionary<string, string> { ["source"] = "trained" });

        var metadata = Safetensors.ReadMetadata(path);

        Assert.Equal("trained", metadata["source"]);
    }

    [Fact]
    public void Read_UnsupportedDType_Throws()
    {
        var header = """{"w":{"dtype":"BF16","shape":[1],"data_offsets":[0,2]}}""";
        var bytes = WithHeader(header, dataLength: 2);

        var error = Assert.Throws<InvalidDataException>(() => Safetensors.Read(new MemoryStream(bytes)));

        Assert.Contains("BF16", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Read_OffsetsBeyondData_Throws()
    {
        var header = """{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}""";
        var bytes = WithHeader(header, dataLength: 8);

        Assert.Throws<InvalidDataException>(() => Safetensors.Read(new MemoryStream(bytes)));
    }

    [Fact]
    public void Read_F16Tensor_WidensToF32()
    {
        Half[] values = [(Half)1.5f, (Half)(-2f), Half.Epsilon, Half.MaxValue, (Half)0.1f];
        var bytes = WithHeader("""{"w":{"dtype":"F16","shape":[5],"data_offsets":[0,10]}}""", dataLength: 10);
        var dataStart = bytes.Length - 10;
        for (var i = 0; i < values.Length; i++)
        {
            BinaryPrimitives.WriteHalfLittleEndian(bytes.AsSpan(dataStart + 2 * i), values[i]);
        }

        var read = Safetensors.Read(new MemoryStream(bytes))["w"];

        Assert.Equal(WeightDType.F32, read.DType);
        Assert.Equal(values.Select(v => (float)v), read.Floats);
    }

    [Fact]
    public void ReadLazy_F32F16AndI64_ReadsFloatsFromTheFileOnEachAccess()
    {
        using var directory = new TempDirectory();
        var path = Path.Combine(directory.Path, "w.safetensors");
        var bytes = WithHeader("""{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"h":{"dtype":"F16","shape":[2],"data_offsets":[8,12]},"i":{"dtype":"I64","shape":[1],"data_offsets":[12,20]}}""", dataLength: 20);
        var data = bytes.Length - 20;
        BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(data), 1.5f);
        BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(data + 4), -2f);
        BinaryPrimitives.WriteHalfLittleEndian(bytes.AsSpan(data + 8), (Half)0.25f);
        BinaryPrimitives.WriteHalfLittleEndian(bytes.AsSpan(data + 10), (Half)(-4f));
        BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(data + 12), 7);
        File.WriteAllBytes(path, bytes);

        var lazy = Safetensors.ReadLazy(path);

        Assert.Equal([1.5f, -2f], lazy["a"].Floats);
        Assert.Equal([0.25f, -4f], lazy["h"].Floats);
        Assert.Equal(WeightDType.F32, lazy["h"].DType);
        Assert.Equal([7L], lazy["i"].Int64Data!);

        // Not held: a read after the file changes sees the new bytes.
        BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(data), 9f);
        File.WriteAllBytes(path, bytes);
        Assert.Equal([9f, -2f], lazy["a"].Floats);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Read_FileOver2GB_ReadsATensorStoredPastTheFirst2GB(bool lazy)
    {
        // A sparse file: 3 GB long, a few bytes on disk; the tensor's data starts past int.MaxValue (the reader does
        // not require tensors to cover the data, so no 3 GB tensor has to be read to get there).
        using var directory = new TempDirectory();
        var path = Path.Combine(directory.Path, "big.safetensors");
        const long begin = 3L << 30;
        var prefix = WithHeader($$$"""{"w":{"dtype":"F32","shape":[2],"data_offsets":[{{{begin}}},{{{begin + 8}}}]}}""", dataLength: 0);
        using (var file = File.Create(path))
        {
            file.Write(prefix);
            file.Position = prefix.Length + begin;
            file.Write(BitConverter.GetBytes(1.25f));
            file.Write(BitConverter.GetBytes(-3f));
        }

        var read = (lazy ? Safetensors.ReadLazy(path) : Safetensors.Read(path))["w"];

        Assert.True(new FileInfo(path).Length > int.MaxValue);
        Assert.Equal([1.25f, -3f], read.Floats);
    }

    private static byte[] WithHeader(string header, int dataLength)
    {
        var headerBytes = Encoding.UTF8.GetBytes(header);
        var bytes = new byte[8 + headerBytes.Length + dataLength];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)headerBytes.Length);
        headerBytes.CopyTo(bytes, 8);
        return bytes;
    }
}
