using Muse.ModelBuilder.Graphs;
using Muse.ModelBuilder.Weights;
using DataType = Onnx.TensorProto.Types.DataType;

namespace Muse.ModelBuilder.Tests;

/// <summary>Single-block graphs built with the shared helper, compared with plain C# references.</summary>
public sealed class GraphBuilderTests
{
    private const float Tolerance = 1e-4f;

    [Fact]
    public void RmsNorm_SmallRandomInput_MatchesReference()
    {
        const int rows = 3, width = 8;
        var x = TestData.Normal(rows * width, 1, std: 2.0);
        var weight = TestData.Normal(width, 2);
        var weights = new Dictionary<string, WeightTensor> { ["norm.weight"] = WeightTensor.Float(weight, width) };
        var g = new GraphBuilder("rms", weights);
        g.Output(g.RmsNorm(g.Input("x", DataType.Float, rows, width), "norm", 1e-6), "y", DataType.Float, rows, width);

        var y = Ort.Run(g.Build(), new Dictionary<string, TestTensor> { ["x"] = TestTensor.Of(x, rows, width) })["y"];

        var expected = new float[x.Length];
        for (var r = 0; r < rows; r++)
        {
            var meanSquare = 0.0;
            for (var c = 0; c < width; c++)
            {
                meanSquare += x[(r * width) + c] * x[(r * width) + c] / (double)width;
            }

            for (var c = 0; c < width; c++)
            {
                expected[(r * width) + c] = (float)(x[(r * width) + c] / Math.Sqrt(meanSquare + 1e-6) * weight[c]);
            }
        }

        AssertClose(expected, y.F);
    }

    [Fact]
    public void GroupNorm_SmallRandomInput_MatchesReference()
    {
        const int batch = 2, channels = 8, groups = 4, height = 3, width = 5;
        var x = TestData.Normal(batch * channels * height * width, 3, std: 3.0);
        var scale = TestData.Normal(channels, 4);
        var shift = TestData.Normal(channels, 5);
        var weights = new Dictionary<string, WeightTensor>
        {
            ["gn.weight"] = WeightTensor.Float(scale, channels),
            ["gn.bias"] = WeightTensor.Float(shift, channels),
        };
        var g = new GraphBuilder("gn", weights);
        g.Output(g.GroupNorm(g.Input("x", DataType.Float, "batch", channels, "h", "w"), "gn", groups, 1e-5), "y", DataType.Float, "batch", channels, "h", "w");

        var y = Ort.Run(g.Build(), new Dictionary<string, TestTensor> { ["x"] = TestTensor.Of(x, batch, channels, height, width) })["y"];

        var expected = new float[x.Length];
        var perGroup = channels / groups * height * width;
        for (var b = 0; b < batch; b++)
        {
            for (var group = 0; group < groups; group++)
            {
                var start = ((b * groups) + group) * perGroup;
                var mean = x.AsSpan(start, perGroup).ToArray().Average(v => (double)v);
                var variance = x.AsSpan(start, perGroup).ToArray().Average(v => (v - mean) * (v - mean));
                for (var i = 0; i < perGroup; i++)
                {
                    var channel = (group * channels / groups) + (i / (height * width));
                    expected[start + i] = (float)(((x[start + i] - mean) / Math.Sqrt(variance + 1e-5) * scale[channel]) + shift[channel]);
                }
            }
        }

        Assert.Equal([batch, channels, height, width], y.Shape);
        AssertClose(expected, y.F);
    }

    [Fact]
    public void MultiHeadAttention_WithKeyMaskAndScale_MatchesReference()
    {
        const int batch = 2, queries = 3, keys = 4, width = 6, heads = 2;
        var weights = new Dictionary<string, WeightTensor>();
        ulong stream = 10;
        foreach (var projection in new[] { "q", "k", "v", "o" })
        {
            weights[$"attn.{projection}.weight"] = WeightTensor.Float(TestData.Normal(width * width, stream++, 0.4), width, width);
            weights[$"attn.{projection}.bias"] = WeightTensor.Float(TestData.Normal(width, stream++, 0.1), width);
        }

        var query = TestData.Normal(batch * queries * width, 20);
        var context = TestData.Normal(batch * keys * width, 21);
        float[] mask = [1, 1, 0, 1, 1, 0, 0, 0];   // [batch, keys]: the second row attends to its first key only
        var scale = 1 / Math.Sqrt(width / heads);
        var g = new GraphBuilder("mha", weights);
        var keyBias = g.KeyMaskBias(g.Input("mask", DataType.Float, "batch", keys));
        var output = g.MultiHeadAttention(g.Input("query", DataType.Float, "batch", queries, width), g.Input("context", DataType.Float, "batch", keys, width),
            "attn", heads, bias: true, scale, keyBias);
        g.Output(output, "y", DataType.Float, "batch", queries, width);

        var y = Ort.Run(g.Build(), new Dictionary<string, TestTensor>
        {
            ["mask"] = TestTensor.Of(mask, batch, keys),
            ["query"] = TestTensor.Of(query, batch, queries, width),
            ["context"] = TestTensor.Of(context, batch, keys, width),
        })["y"];

        var expected = ReferenceAttention(weights, query, context, mask, batch, queries, keys, width, heads, scale);
        AssertClose(expected, y.F);
    }

    [Fact]
    public void Gelu_KnownPoints_MatchesErfForm()
    {
        float[] x = [-3f, -1f, -0.5f, 0f, 0.5f, 1f, 3f];
        var g = new GraphBuilder("gelu", new Dictionary<string, WeightTensor>());
        g.Output(g.Gelu(g.Input("x", DataType.Float, x.Length)), "y", DataType.Float, x.Length);

        var y = Ort.Run(g.Build(), new Dictionary<string, TestTensor> { ["x"] = TestTensor.Of(x, x.Length) })["y"];

        // 0.5·x·(1 + erf(x/√2)) at the points above.
        float[] expected = [-0.0040496f, -0.1586553f, -0.1542687f, 0f, 0.3457313f, 0.8413447f, 2.9959504f];
        AssertClose(expected, y.F);
    }

    [Fact]
    public void Linear_PyTorchLayoutWeight_ComputesXTimesWTransposedPlusBias()
    {
        // W [out=2, in=3]
        var weights = new Dictionary<string, WeightTensor>
        {
            ["fc.weight"] = WeightTensor.Float([1, 2, 3, 4, 5, 6], 2, 3),
            ["fc.bias"] = WeightTensor.Float([10, 20], 2),
        };
        var g = new GraphBuilder("linear", weights);
        g.Output(g.Linear(g.Input("x", DataType.Float, 1, 3), "fc", bias: true), "y", DataType.Float, 1, 2);

        var y = Ort.Run(g.Build(), new Dictionary<string, TestTensor> { ["x"] = TestTensor.Of(new float[] { 1, 0, -1 }, 1, 3) })["y"];

        Assert.Equal([10f + 1 - 3, 20f + 4 - 6], y.F);
    }

    [Fact]
    public void UpsampleNearest2x_TwoByThree_RepeatsEachPixelTwiceEachWay()
    {
        float[] x = [1, 2, 3, 4, 5, 6];   // [1, 1, 2, 3]
        var g = new GraphBuilder("upsample", new Dictionary<string, WeightTensor>());
        g.Output(g.UpsampleNearest2x(g.Input("x", DataType.Float, "batch", 1, "h", "w")), "y", DataType.Float, "batch", 1, "h2", "w2");

        var y = Ort.Run(g.Build(), new Dictionary<string, TestTensor> { ["x"] = TestTensor.Of(x, 1, 1, 2, 3) })["y"];

        Assert.Equal([1L, 1, 4, 6], y.Shape);
        Assert.Equal([1f, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 4, 4, 5, 5, 6, 6], y.F);
    }

    [Fact]
    public void Conv2d_StrideTwoPadOne_HalvesSpatialSizeAndMatchesReference()
    {
        const int size = 4;
        var x = TestData.Normal(size * size, 70);   // [1, 1, 4, 4]
        var kernel = TestData.Normal(9, 71);        // [1, 1, 3, 3]
        var weights = new Dictionary<string, WeightTensor>
        {
            ["conv.weight"] = WeightTensor.Float(kernel, 1, 1, 3, 3),
            ["conv.bias"] = WeightTensor.Float([0.5f], 1),
        };
        var g = new GraphBuilder("conv", weights);
        g.Output(g.Conv2d(g.Input("x", DataType.Float, "batch", 1, "h", "w"), "conv", stride: 2, padding: 1), "y", DataType.Float, "batch", 1, "h2", "w2");

        var y = Ort.Run(g.Build(), new Dictionary<string, TestTensor> { ["x"] = TestTensor.Of(x, 1, 1, size, size) })["y"];

        var expected = new float[4];
        for (var oy = 0; oy < 2; oy++)
        {
            for (var ox = 0; ox < 2; ox++)
            {
                var sum = 0.5;
                for (var ky = 0; ky < 3; ky++)
                {
                    for (var kx = 0; kx < 3; kx++)
                    {
                        var (iy, ix) = ((oy * 2) - 1 + ky, (ox * 2) - 1 + kx);
                        if (iy is >= 0 and < size && ix is >= 0 and < size)
                        {
                            sum += x[(iy * size) + ix] * (double)kernel[(ky * 3) + kx];
                        }
                    }
                }

                expected[(oy * 2) + ox] = (float)sum;
            }
        }

        Assert.Equal([1L, 1, 2, 2], y.Shape);
        AssertClose(expected, y.F);
    }

    internal static void AssertClose(float[] expected, float[] actual, float tolerance = Tolerance)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (var i = 0; i < expected.Length; i++)
        {
            var allowed = tolerance * Math.Max(1f, Math.Abs(expected[i]));
            Assert.True(Math.Abs(expected[i] - actual[i]) <= allowed, $"element {i}: expected {expected[i]}, got {actual[i]}");
        }
    }

    private static float[] ReferenceAttention(Dictionary<string, WeightTensor> weights, float[] query, float[] context, float[] mask,
        int batch, int queries, int keys, int width, int heads, double scale)
    {
        double[] Project(float[] x, int rows, string name)
        {
            var w = weights[$"attn.{name}.weight"].Floats;
            var b = weights[$"attn.{name}.bias"].Floats;
            var y = new double[rows * width];
            for (var r = 0; r < rows; r++)
            {
                for (var o = 0; o < width; o++)
                {
                    var sum = (double)b[o];
                    for (var i = 0; i < width; i++)
                    {
                        sum += x[(r * width) + i] * (double)w[(o * width) + i];
                    }

                    y[(r * width) + o] = sum;
                }
            }

            return y;
        }

        var q = Project(query, batch * queries, "q");
        var k = Project(context, batch * keys, "k");
        var v = Project(context, batch * keys, "v");
        var headWidth = width / heads;
        var merged = new float[batch * queries * width];
        for (var b = 0; b < batch; b++)
        {
            for (var h = 0; h < heads; h++)
            {
                for (var i = 0; i < queries; i++)
                {
                    var scores = new double[keys];
                    for (var j = 0; j < keys; j++)
                    {
                        var dot = 0.0;
                        for (var d = 0; d < headWidth; d++)
                        {
                            dot += q[(((b * queries) + i) * width) + (h * headWidth) + d] * k[(((b * keys) + j) * width) + (h * headWidth) + d];
                        }

                        scores[j] = (dot * scale) + (mask[(b * keys) + j] == 0 ? -1e9 : 0);
                    }

                    var max = scores.Max();
                    var exp = scores.Select(s => Math.Exp(s - max)).ToArray();
                    var total = exp.Sum();
                    for (var d = 0; d < headWidth; d++)
                    {
                        var sum = 0.0;
                        for (var j = 0; j < keys; j++)
                        {
                            sum += exp[j] / total * v[(((b * keys) + j) * width) + (h * headWidth) + d];
                        }

                        merged[(((b * queries) + i) * width) + (h * headWidth) + d] = (float)sum;
                    }
                }
            }
        }

        return [.. Project(merged, batch * queries, "o").Select(d => (float)d)];
    }
}
