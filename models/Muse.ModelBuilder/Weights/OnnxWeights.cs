using Muse.ModelBuilder.Architectures;
using Muse.Repository;
using Onnx;

namespace Muse.ModelBuilder.Weights;

/// <summary>
/// The inverse of the builder: reads the weights of an exported model back out of its ONNX graphs, in the names and
/// PyTorch layouts of the weight file (models/README.md) the graphs were built from. The builder names every weight's
/// initializer after the weight (the first use keeps the exact name; <see cref="Graphs.GraphBuilder"/> suffixes later
/// ones), stores <c>Linear</c> weights transposed as <c>[in, out]</c> (the right-hand input of a <c>MatMul</c>) and
/// GroupNorm affines as <c>[C, 1, 1]</c>; initializer data is inline or in the external data file next to the graph
/// (<see cref="Graphs.OnnxFileWriter"/>).
/// </summary>
public static class OnnxWeights
{
    /// <summary>
    /// The weights of the model in <paramref name="modelDir"/> (a repository version folder: <c>manifest.json</c> with
    /// its architecture, and the ONNX files it lists), checked against <see cref="WeightSpec.For"/> of that architecture.
    /// </summary>
    /// <exception cref="InvalidDataException">No architecture in the manifest, or a weight missing or mis-shaped.</exception>
    public static (ModelManifest Manifest, ArchitectureConfig Config, Dictionary<string, WeightTensor> Weights) ReadModel(string modelDir)
    {
        var manifest = ModelManifest.Load(Path.Combine(modelDir, ModelExporter.ManifestFileName));
        var architecture = manifest.Architecture
            ?? throw new InvalidDataException($"{modelDir}: the manifest has no architecture (a model not written by Muse.ModelBuilder).");
        var config = ArchitectureConfig.Parse(architecture.GetRawText());
        var graphs = manifest.Files
            .Where(f => f.Value.EndsWith(".onnx", StringComparison.Ordinal))
            .OrderBy(f => f.Key, StringComparer.Ordinal)
            .Select(f => Path.Combine(modelDir, f.Value))
            .ToArray();
        return (manifest, config, Read(graphs, WeightSpec.For(config)));
    }

    /// <summary>
    /// The weights <paramref name="specs"/> names, read from the initializers of <paramref name="onnxPaths"/> (a weight
    /// found in several graphs, as the VQGAN codebook in its encoder and decoder, must be equal in each).
    /// </summary>
    /// <exception cref="InvalidDataException">A weight missing, mis-shaped or differing between graphs.</exception>
    public static Dictionary<string, WeightTensor> Read(IReadOnlyList<string> onnxPaths, IReadOnlyList<WeightSpec> specs)
    {
        ArgumentNullException.ThrowIfNull(onnxPaths);
        ArgumentNullException.ThrowIfNull(specs);
        var weights = new Dictionary<string, WeightTensor>(StringComparer.Ordinal);
        foreach (var path in onnxPaths)
        {
            ModelProto model;
            using (var stream = File.OpenRead(path))
            {
                model = ModelProto.Parser.ParseFrom(stream);
            }

            var initializers = new Dictionary<string, TensorProto>(StringComparer.Ordinal);
            foreach (var tensor in model.Graph.Initializer)
            {
                initializers.TryAdd(tensor.Name, tensor);
            }

            // An fp16 weight reaches its MatMul through a Cast to float (WeightPrecision.Fp16).
            var castFrom = model.Graph.Node
                .Where(n => n.OpType == "Cast" && n.Input.Count == 1)
                .ToDictionary(n => n.Output[0], n => n.Input[0], StringComparer.Ordinal);
            var matMulWeights = model.Graph.Node
                .Where(n => n.OpType == "MatMul" && n.Input.Count == 2)
                .Select(n => castFrom.GetValueOrDefault(n.Input[1], n.Input[1]))
                .ToHashSet(StringComparer.Ordinal);
            foreach (var spec in specs)
            {
                if (!initializers.TryGetValue(spec.Name, out var tensor))
                {
                    continue;
                }

                var weight = ToPyTorch(spec, Floats(tensor, path), [.. tensor.Dims], matMulWeights.Contains(spec.Name), path);
                if (weights.TryGetValue(spec.Name, out var earlier) && !earlier.Floats.AsSpan().SequenceEqual(weight.Floats))
                {
                    throw new InvalidDataException($"{path}: {spec.Name} differs from the same weight in another graph of the model.");
                }

                weights[spec.Name] = weight;
            }
        }

        WeightSpec.Validate(specs, weights);
        return weights;
    }

    // A Linear weight comes back from [in, out] to [out, in]; anything else keeps its data and takes the spec's shape
    // (GroupNorm's [C, 1, 1] is [C]).
    private static WeightTensor ToPyTorch(WeightSpec spec, float[] data, long[] dims, bool transposed, string path)
    {
        if (WeightTensor.ElementCountOf(dims) != WeightTensor.ElementCountOf(spec.Shape))
        {
            throw new InvalidDataException($"{path}: {spec.Name} is [{string.Join(", ", dims)}], expected [{string.Join(", ", spec.Shape)}].");
        }

        if (!transposed)
        {
            return WeightTensor.Float(data, spec.Shape);
        }

        var (inFeatures, outFeatures) = (dims[0], dims[1]);
        if (dims.Length != 2 || spec.Shape.Length != 2 || spec.Shape[0] != outFeatures || spec.Shape[1] != inFeatures)
        {
            throw new InvalidDataException($"{path}: {spec.Name} multiplies as [{string.Join(", ", dims)}], not the transpose of [{string.Join(", ", spec.Shape)}].");
        }

        var result = new float[data.Length];
        for (var i = 0; i < inFeatures; i++)
        {
            for (var o = 0; o < outFeatures; o++)
            {
                result[(o * inFeatures) + i] = data[(i * outFeatures) + o];
            }
        }

        return WeightTensor.Float(result, spec.Shape);
    }

    // The float data of an initializer: raw little-endian bytes (fp32, or fp16 widened) inline or in its external data
    // file, or float_data.
    private static float[] Floats(TensorProto tensor, string path)
    {
        var half = tensor.DataType == (int)TensorProto.Types.DataType.Float16;
        if (tensor.DataType != (int)TensorProto.Types.DataType.Float && !half)
        {
            throw new InvalidDataException($"{path}: initializer {tensor.Name} is neither float nor float16.");
        }

        byte[] bytes;
        if (tensor.DataLocation == TensorProto.Types.DataLocation.External)
        {
            var entries = tensor.ExternalData.ToDictionary(e => e.Key, e => e.Value, StringComparer.Ordinal);
            var location = Path.Combine(Path.GetDirectoryName(path) ?? ".", entries["location"]);
            var offset = entries.TryGetValue("offset", out var o) ? long.Parse(o, System.Globalization.CultureInfo.InvariantCulture) : 0;
            var length = entries.TryGetValue("length", out var l)
                ? int.Parse(l, System.Globalization.CultureInfo.InvariantCulture)
                : checked((int)(WeightTensor.ElementCountOf([.. tensor.Dims]) * (half ? 2 : sizeof(float))));
            bytes = new byte[length];
            using var data = File.OpenRead(location);
            data.Position = offset;
            data.ReadExactly(bytes);
        }
        else if (tensor.FloatData.Count > 0)
        {
            return [.. tensor.FloatData];
        }
        else
        {
            bytes = tensor.RawData.ToByteArray();
        }

        if (half)
        {
            var widened = new float[bytes.Length / 2];
            for (var i = 0; i < widened.Length; i++)
            {
                widened[i] = (float)System.Buffers.Binary.BinaryPrimitives.ReadHalfLittleEndian(bytes.AsSpan(i * 2));
            }

            return widened;
        }

        var floats = new float[bytes.Length / sizeof(float)];
        for (var i = 0; i < floats.Length; i++)
        {
            floats[i] = System.Buffers.Binary.BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan(i * sizeof(float)));
        }

        return floats;
    }
}
