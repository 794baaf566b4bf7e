using System.Diagnostics;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.ML.OnnxRuntime;
using Muse.Inference;
using Muse.ModelBuilder.Graphs;
using DataType = Onnx.TensorProto.Types.DataType;

namespace Muse.Bench;

/// <summary>The measured fp32 GEMM rate of this machine through ONNX Runtime: the ceiling a transformer step is compared with.</summary>
/// <param name="Size">M = N = K of the product.</param>
/// <param name="FlopsPerSecond">2·M·N·K over the fastest of the timed runs.</param>
/// <param name="Runs">Timed runs (after one warm-up).</param>
public sealed record GemmPeakResult(int Size, double FlopsPerSecond, int Runs)
{
    /// <summary>Every sample's FLOP/s when several were taken (the bench's before and after); empty otherwise.</summary>
    public IReadOnlyList<double> Samples { get; init; } = [];
}

/// <summary>
/// Times one square fp32 MatMul (a graph written by Muse.ModelBuilder, loaded through <see cref="OnnxModel"/> with the
/// same thread settings as the stages), so the peak and the stages share the library, kernels and threads: the
/// ratio of the two is what the graph leaves on the table, not a difference of BLAS libraries.
/// </summary>
public static class GemmPeak
{
    /// <summary>Measures an <paramref name="size"/>³ product: one warm-up, then the fastest of <paramref name="runs"/>.</summary>
    public static GemmPeakResult Measure(int intraOpThreads, bool allowSpinning, int size = 2048, int runs = 5)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(size, 16);
        ArgumentOutOfRangeException.ThrowIfLessThan(runs, 1);
        var folder = Directory.CreateTempSubdirectory("muse-gemm-");
        try
        {
            var path = Path.Combine(folder.FullName, "gemm.onnx");
            var weights = new float[size * size];
            for (var i = 0; i < weights.Length; i++)
            {
                weights[i] = ((i * 7919) % 251 / 251f) - 0.5f;   // any finite values: the timing does not depend on them
            }

            var g = new GraphBuilder("gemm", new Dictionary<string, Muse.ModelBuilder.Weights.WeightTensor>());
            var a = g.Input("a", DataType.Float, size, size);
            g.Output(g.MatMul(a, g.Initializer("b", weights, [size, size])), "c", DataType.Float, size, size);
            OnnxFileWriter.Write(g.Build(), path);

            var options = new InferenceOptions { Providers = [ExecutionProvider.Cpu], IntraOpThreads = intraOpThreads, AllowSpinning = allowSpinning };
            using var model = OnnxModel.Load(path, options, NullLogger.Instance);
            using var input = OrtValue.CreateTensorValueFromMemory(weights, [size, size]);
            var inputs = new Dictionary<string, OrtValue> { ["a"] = input };
            var best = double.MaxValue;
            for (var run = 0; run <= runs; run++)
            {
                var started = Stopwatch.GetTimestamp();
                using (model.Run(inputs, CancellationToken.None))
                {
                }

                if (run > 0)
                {
                    best = Math.Min(best, Stopwatch.GetElapsedTime(started).TotalSeconds);
                }
            }

            return new GemmPeakResult(size, 2.0 * size * size * size / best, runs);
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }
}
