using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Muse.ModelBuilder.Weights;

namespace Muse.Parity.Tests;

/// <summary>
/// Every fixture under tests/fixtures/&lt;model&gt;/&lt;version&gt;/&lt;graph&gt;.safetensors was written by the trainer
/// (<c>Muse.Training parity-fixtures</c>) from the same weights as models/repository/&lt;model&gt;/&lt;version&gt;. ONNX Runtime must
/// reproduce the trainer's outputs: floats within 1e-4, token ids exactly.
/// The training smoke run in tests/run.sh points MUSE_PARITY_FIXTURES and MUSE_PARITY_REPOSITORY at a fresh export
/// instead, so an export bug in the trainer → builder path fails CI, not only the shipped models.
/// </summary>
public sealed class ParityTests
{
    private const double Tolerance = 1e-4;

    private static string FixturesRoot =>
        Environment.GetEnvironmentVariable("MUSE_PARITY_FIXTURES") ?? Path.Combine(Repository.Root, "tests", "fixtures");

    private static string ModelsRoot =>
        Environment.GetEnvironmentVariable("MUSE_PARITY_REPOSITORY") ?? Path.Combine(Repository.Root, "models", "repository");

    public static TheoryData<string, string, string> Fixtures()
    {
        var data = new TheoryData<string, string, string>();
        var root = FixturesRoot;
        var files = Directory.Exists(root) ? Directory.GetFiles(root, "*.safetensors", SearchOption.AllDirectories) : [];
        foreach (var file in files.Order(StringComparer.Ordinal))
        {
            var versionDir = Path.GetDirectoryName(file)!;
            // Trainer fixtures are <model>/<version>/<graph>.safetensors. An imported checkpoint's folder (with its
            // reference.json, e.g. amused-tiny) is checked by the ModelBuilder's import parity tests instead.
            var modelDir = Path.GetDirectoryName(versionDir)!;
            if (Path.GetRelativePath(root, file).Split(Path.DirectorySeparatorChar).Length != 3
                || File.Exists(Path.Combine(modelDir, "reference.json")))
            {
                continue;
            }

            data.Add(Path.GetFileName(Path.GetDirectoryName(versionDir)!), Path.GetFileName(versionDir), Path.GetFileNameWithoutExtension(file));
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void Graph_FixtureInputs_MatchesTrainerOutputs(string model, string version, string graph)
    {
        // Arrange
        var fixture = Safetensors.Read(Path.Combine(FixturesRoot, model, version, graph + ".safetensors"));
        var onnxPath = Path.Combine(ModelsRoot, model, version, graph + ".onnx");
        Assert.True(File.Exists(onnxPath), $"{onnxPath} is missing: the fixture has no exported model");
        using var session = new InferenceSession(onnxPath);
        var inputNames = session.InputNames.ToArray();
        var outputNames = session.OutputNames.ToArray();
        Assert.All(inputNames, name => Assert.True(fixture.ContainsKey(name), $"fixture lacks input {name}"));
        var values = inputNames.Select(name => ToOrt(fixture[name])).ToList();

        // Act
        Dictionary<string, WeightTensor> actual;
        try
        {
            using var runOptions = new RunOptions();
            using var outputs = session.Run(runOptions, inputNames, values, outputNames);
            actual = outputNames.Select((name, i) => (name, FromOrt(outputs[i]))).ToDictionary(p => p.name, p => p.Item2);
        }
        finally
        {
            values.ForEach(v => v.Dispose());
        }

        // Assert
        foreach (var name in outputNames)
        {
            var expected = fixture[name];
            var got = actual[name];
            if (fixture.TryGetValue(name + "_positions", out var positions))
            {
                // The fixture keeps a subset of positions along axis 1 (files stay small).
                got = SelectAxis1(got, positions.Int64Data!);
            }

            Assert.Equal(expected.Shape, got.Shape);
            if (expected.DType == WeightDType.I64)
            {
                Assert.Equal(expected.Int64Data!, got.Int64Data!);
            }
            else
            {
                var maxError = expected.Floats.Zip(got.Floats, (a, b) => Math.Abs(a - b)).Max();
                Assert.True(maxError <= Tolerance, $"{model}/{graph} {name}: max abs error {maxError:E2} > {Tolerance:E0}");
            }
        }
    }

    private static OrtValue ToOrt(WeightTensor t) => t.DType == WeightDType.I64
        ? OrtValue.CreateTensorValueFromMemory(t.Int64Data!, t.Shape)
        : OrtValue.CreateTensorValueFromMemory(t.Floats, t.Shape);

    private static WeightTensor FromOrt(OrtValue value)
    {
        var info = value.GetTensorTypeAndShape();
        return info.ElementDataType switch
        {
            TensorElementType.Float => WeightTensor.Float(value.GetTensorDataAsSpan<float>().ToArray(), info.Shape),
            TensorElementType.Int64 => WeightTensor.Int64(value.GetTensorDataAsSpan<long>().ToArray(), info.Shape),
            var other => throw new InvalidOperationException($"unexpected output type {other}"),
        };
    }

    private static WeightTensor SelectAxis1(WeightTensor t, long[] positions)
    {
        var (b, n) = (t.Shape[0], t.Shape[1]);
        var inner = t.ElementCount / (b * n);
        var data = new float[b * positions.Length * inner];
        for (var i = 0; i < b; i++)
        {
            for (var p = 0; p < positions.Length; p++)
            {
                Array.Copy(t.Floats, ((i * n) + positions[p]) * inner, data, ((i * positions.Length) + p) * inner, inner);
            }
        }

        return WeightTensor.Float(data, [b, positions.Length, .. t.Shape[2..]]);
    }
}

/// <summary>Locates the repository root (the folder holding MuseGrpc.sln) from the test's output folder.</summary>
internal static class Repository
{
    public static string Root { get; } = Find();

    private static string Find()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "MuseGrpc.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("MuseGrpc.sln not found above " + AppContext.BaseDirectory);
    }
}
