using Google.Protobuf;
using Onnx;

namespace Muse.ModelBuilder.Graphs;

/// <summary>
/// Writes a model as <c>&lt;name&gt;.onnx</c> plus ONNX external data <c>&lt;name&gt;.onnx.data</c>: every
/// initializer above a threshold is moved to the data file, its <c>location</c> relative to the model file,
/// which is how ONNX Runtime loads full-size models (the protobuf itself stays small and under its 2 GB limit).
/// A model written this way must be loaded from its path, not from bytes.
/// </summary>
public static class OnnxFileWriter
{
    /// <summary>Initializers larger than this many bytes go to the external data file.</summary>
    public const int DefaultExternalThresholdBytes = 1024;

    // Tensor data is aligned so the runtime can map it directly.
    private const int Alignment = 64;

    /// <summary>
    /// Writes <paramref name="model"/> to <paramref name="path"/> and, when any initializer exceeds
    /// <paramref name="externalThresholdBytes"/>, its data to <c>path + ".data"</c>. The model passed in is not
    /// changed. Returns the file names written (model first).
    /// </summary>
    public static IReadOnlyList<string> Write(ModelProto model, string path, int externalThresholdBytes = DefaultExternalThresholdBytes)
    {
        var copy = model.Clone();
        var dataPath = path + ".data";
        var location = Path.GetFileName(dataPath);
        var written = new List<string> { Path.GetFileName(path) };
        using (var data = new MemoryStream())
        {
            foreach (var tensor in copy.Graph.Initializer)
            {
                if (tensor.RawData.Length <= externalThresholdBytes)
                {
                    continue;
                }

                while (data.Length % Alignment != 0)
                {
                    data.WriteByte(0);
                }

                var offset = data.Length;
                tensor.RawData.WriteTo(data);
                tensor.ExternalData.Add(Entry("location", location));
                tensor.ExternalData.Add(Entry("offset", offset.ToString(System.Globalization.CultureInfo.InvariantCulture)));
                tensor.ExternalData.Add(Entry("length", tensor.RawData.Length.ToString(System.Globalization.CultureInfo.InvariantCulture)));
                tensor.DataLocation = TensorProto.Types.DataLocation.External;
                tensor.RawData = ByteString.Empty;
            }

            if (data.Length > 0)
            {
                File.WriteAllBytes(dataPath, data.ToArray());
                written.Add(location);
            }
            else if (File.Exists(dataPath))
            {
                File.Delete(dataPath);
            }
        }

        using var stream = File.Create(path);
        copy.WriteTo(stream);
        return written;
    }

    /// <summary>
    /// Writes <paramref name="model"/>, whose large initializers <paramref name="externalData"/> already holds (a graph
    /// built with it), to <paramref name="path"/> after closing the data files. Returns the file names written (model
    /// first, then the data files in order).
    /// </summary>
    public static IReadOnlyList<string> Write(ModelProto model, string path, ExternalDataWriter externalData)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(externalData);
        externalData.Complete();
        using (var stream = File.Create(path))
        {
            model.WriteTo(stream);
        }

        return [Path.GetFileName(path), .. externalData.Files];
    }

    private static StringStringEntryProto Entry(string key, string value) => new() { Key = key, Value = value };
}
