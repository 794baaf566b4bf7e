using System.Buffers.Binary;
using System.Globalization;
using Onnx;
using DataType = Onnx.TensorProto.Types.DataType;

namespace Muse.ModelBuilder.Graphs;

/// <summary>How the float weights of a written model are stored.</summary>
public enum WeightPrecision
{
    /// <summary>32-bit floats (the default).</summary>
    Fp32,

    /// <summary>
    /// IEEE half floats behind a <c>Cast</c> to float: half the bytes on disk; ONNX Runtime folds the Cast when the
    /// session loads, so the arithmetic (and the memory of a loaded session) stays fp32.
    /// </summary>
    Fp16,
}

/// <summary>
/// Streams initializer data into ONNX external data files next to a model as the graph is built, so neither the
/// graph nor the process ever holds all weights: <c>model.onnx.data</c>, then <c>model.onnx.data.1</c>, … whenever
/// the next tensor would take a file past <see cref="MaxFileBytes"/> (a tensor larger than that gets a file of its
/// own). Each tensor starts on a 4 KiB boundary so the runtime can map it from the file directly.
/// </summary>
/// <remarks>Owns its open file; dispose it (after <see cref="OnnxFileWriter.Write(ModelProto, string, ExternalDataWriter)"/>).</remarks>
public sealed class ExternalDataWriter : IDisposable
{
    /// <summary>Default per-file cap: 2 GiB, protobuf's own limit, so every file stays within what any reader takes.</summary>
    public const long DefaultMaxFileBytes = 2L << 30;

    private const int Alignment = 4096;

    private readonly string _modelPath;
    private readonly List<string> _files = [];
    private FileStream? _current;
    private bool _disposed;

    /// <summary>Starts the data files of <paramref name="modelPath"/>, deleting data files an earlier write left there.</summary>
    /// <param name="modelPath">The <c>.onnx</c> file the data belongs to.</param>
    /// <param name="precision">How float weights are stored; default fp32.</param>
    /// <param name="maxFileBytes">Per-file cap; default <see cref="DefaultMaxFileBytes"/>.</param>
    /// <param name="thresholdBytes">Tensors of at most this many fp32 bytes stay inline; default <see cref="OnnxFileWriter.DefaultExternalThresholdBytes"/>.</param>
    public ExternalDataWriter(string modelPath, WeightPrecision precision = WeightPrecision.Fp32, long maxFileBytes = DefaultMaxFileBytes, int thresholdBytes = OnnxFileWriter.DefaultExternalThresholdBytes)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxFileBytes, Alignment);
        _modelPath = Path.GetFullPath(modelPath);
        Precision = precision;
        MaxFileBytes = maxFileBytes;
        ThresholdBytes = thresholdBytes;
        var folder = Path.GetDirectoryName(_modelPath)!;
        Directory.CreateDirectory(folder);
        foreach (var stale in Directory.EnumerateFiles(folder, Path.GetFileName(_modelPath) + ".data*"))
        {
            File.Delete(stale);
        }
    }

    /// <summary>How float weights are stored.</summary>
    public WeightPrecision Precision { get; }

    /// <summary>Per-file cap in bytes.</summary>
    public long MaxFileBytes { get; }

    /// <summary>Tensors of at most this many fp32 bytes stay inline.</summary>
    public int ThresholdBytes { get; }

    /// <summary>Data file names written so far, relative to the model's folder, in order.</summary>
    public IReadOnlyList<string> Files => _files;

    /// <summary>Bytes of tensor data written (padding excluded).</summary>
    public long DataBytes { get; private set; }

    /// <summary>Float elements written; times 4 is what they take as fp32 in memory.</summary>
    public long Elements { get; private set; }

    /// <summary>
    /// Builds a model whose weights <paramref name="build"/> streams into capped data files beside
    /// <paramref name="path"/> and writes it there. Returns the file names (model first) and the bytes the weights take
    /// as fp32 in memory plus the protobuf's size.
    /// </summary>
    public static (IReadOnlyList<string> Files, long WeightBytes) WriteModel(string path, Func<ExternalDataWriter, ModelProto> build,
        WeightPrecision precision = WeightPrecision.Fp32, long maxFileBytes = DefaultMaxFileBytes)
    {
        ArgumentNullException.ThrowIfNull(build);
        using var externalData = new ExternalDataWriter(path, precision, maxFileBytes);
        var files = OnnxFileWriter.Write(build(externalData), path, externalData);
        return (files, (externalData.Elements * sizeof(float)) + new FileInfo(path).Length);
    }

    /// <summary>Whether a float tensor of <paramref name="elements"/> goes to the data files.</summary>
    public bool Takes(long elements) => elements * sizeof(float) > ThresholdBytes;

    /// <summary>
    /// Writes <paramref name="data"/> at the end of the current data file (or a new one) in <see cref="Precision"/> and
    /// points <paramref name="tensor"/> at it (data type, location, offset, length).
    /// </summary>
    public void Append(TensorProto tensor, float[] data)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(tensor);
        ArgumentNullException.ThrowIfNull(data);
        var half = Precision == WeightPrecision.Fp16;
        var length = (long)data.Length * (half ? 2 : 4);
        var stream = StreamFor(length);
        var offset = stream.Position;

        // Little-endian in chunks: a 500 MB embedding is never copied whole.
        var buffer = new byte[1 << 20];
        var perChunk = buffer.Length / (half ? 2 : 4);
        for (var start = 0; start < data.Length; start += perChunk)
        {
            var count = Math.Min(perChunk, data.Length - start);
            for (var i = 0; i < count; i++)
            {
                if (half)
                {
                    BinaryPrimitives.WriteHalfLittleEndian(buffer.AsSpan(i * 2), (Half)data[start + i]);
                }
                else
                {
                    BinaryPrimitives.WriteSingleLittleEndian(buffer.AsSpan(i * 4), data[start + i]);
                }
            }

            stream.Write(buffer, 0, count * (half ? 2 : 4));
        }

        tensor.DataType = (int)(half ? DataType.Float16 : DataType.Float);
        tensor.DataLocation = TensorProto.Types.DataLocation.External;
        tensor.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = _files[^1] });
        tensor.ExternalData.Add(new StringStringEntryProto { Key = "offset", Value = offset.ToString(CultureInfo.InvariantCulture) });
        tensor.ExternalData.Add(new StringStringEntryProto { Key = "length", Value = length.ToString(CultureInfo.InvariantCulture) });
        DataBytes += length;
        Elements += data.Length;
    }

    /// <summary>Flushes and closes the current data file.</summary>
    public void Complete()
    {
        _current?.Dispose();
        _current = null;
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        if (!_disposed)
        {
            Complete();
            _disposed = true;
        }
    }

    private FileStream StreamFor(long length)
    {
        if (_current is not null)
        {
            var aligned = (_current.Position + Alignment - 1) / Alignment * Alignment;
            if (aligned + length <= MaxFileBytes || _current.Position == 0)
            {
                _current.Position = aligned;
                return _current;
            }

            _current.Dispose();
        }

        var name = Path.GetFileName(_modelPath) + ".data" + (_files.Count == 0 ? "" : $".{_files.Count}");
        _files.Add(name);
        _current = new FileStream(Path.Combine(Path.GetDirectoryName(_modelPath)!, name), FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20);
        return _current;
    }
}
