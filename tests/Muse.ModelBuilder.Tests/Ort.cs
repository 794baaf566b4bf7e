using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Muse.ModelBuilder.Graphs;
using Onnx;

namespace Muse.ModelBuilder.Tests;

/// <summary>A typed tensor handed to or returned by <see cref="Ort.Run"/>.</summary>
internal sealed record TestTensor(long[] Shape, float[]? Floats = null, long[]? Int64s = null)
{
    public static TestTensor Of(float[] data, params long[] shape) => new(shape, Floats: data);

    public static TestTensor Of(long[] data, params long[] shape) => new(shape, Int64s: data);

    public float[] F => Floats ?? throw new InvalidOperationException("not a float tensor");

    public long[] L => Int64s ?? throw new InvalidOperationException("not an int64 tensor");
}

/// <summary>Runs graphs in ONNX Runtime (CPU), loading them from disk with external data as the services do.</summary>
internal static class Ort
{
    public static Dictionary<string, TestTensor> Run(ModelProto model, IReadOnlyDictionary<string, TestTensor> inputs)
    {
        using var directory = new TempDirectory();
        var path = Path.Combine(directory.Path, "graph.onnx");
        OnnxFileWriter.Write(model, path);
        return RunFile(path, inputs);
    }

    public static Dictionary<string, TestTensor> RunFile(string path, IReadOnlyDictionary<string, TestTensor> inputs)
    {
        using var options = new SessionOptions();
        using var session = new InferenceSession(path, options);
        var values = new List<OrtValue>();
        try
        {
            foreach (var input in inputs.Values)
            {
                values.Add(input.Floats is { } floats
                    ? OrtValue.CreateTensorValueFromMemory(floats, input.Shape)
                    : OrtValue.CreateTensorValueFromMemory(input.L, input.Shape));
            }

            using var runOptions = new RunOptions();
            var outputNames = session.OutputNames.ToArray();
            using var outputs = session.Run(runOptions, inputs.Keys.ToArray(), values, outputNames);
            var result = new Dictionary<string, TestTensor>();
            for (var i = 0; i < outputNames.Length; i++)
            {
                var info = outputs[i].GetTensorTypeAndShape();
                result[outputNames[i]] = info.ElementDataType switch
                {
                    TensorElementType.Float => TestTensor.Of(outputs[i].GetTensorDataAsSpan<float>().ToArray(), info.Shape),
                    TensorElementType.Int64 => TestTensor.Of(outputs[i].GetTensorDataAsSpan<long>().ToArray(), info.Shape),
                    var other => throw new InvalidOperationException($"unexpected output type {other}"),
                };
            }

            return result;
        }
        finally
        {
            foreach (var value in values)
            {
                value.Dispose();
            }
        }
    }
}

internal sealed class TempDirectory : IDisposable
{
    public TempDirectory()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "muse-modelbuilder-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // Best effort: a leftover temp folder must not fail a test.
        }
    }
}
