using Muse.Decoding;
using Muse.ModelBuilder.Weights;

namespace Muse.ModelBuilder.Architectures;

/// <summary>How a seeded random fixture initialises a weight (see <see cref="RandomWeights"/>).</summary>
/// <param name="Std">Standard deviation of a zero-mean normal; used when <see cref="Constant"/> is null.</param>
/// <param name="Constant">When set, every element takes this value (norm weights 1, biases 0).</param>
public readonly record struct WeightInit(double Std, float? Constant = null)
{
    /// <summary>All ones (norm scales).</summary>
    public static WeightInit Ones { get; } = new(0, 1f);

    /// <summary>All zeros (biases, norm shifts).</summary>
    public static WeightInit Zeros { get; } = new(0, 0f);

    /// <summary>Normal with standard deviation <paramref name="std"/>.</summary>
    public static WeightInit Normal(double std) => new(std);

    /// <summary>Normal with standard deviation 1/√fanIn: keeps activations near unit scale through a layer.</summary>
    public static WeightInit FanIn(long fanIn) => new(1.0 / Math.Sqrt(fanIn));
}

/// <summary>One weight an architecture expects: its name, PyTorch-layout shape and fixture initialisation.</summary>
public sealed record WeightSpec(string Name, long[] Shape, WeightInit Init)
{
    /// <summary>The weight specs of <paramref name="config"/>'s architecture, in a fixed order.</summary>
    public static IReadOnlyList<WeightSpec> For(ArchitectureConfig config) => config switch
    {
        T5Config t5 => T5EncoderGraph.WeightSpecs(t5),
        VqganConfig vqgan => VqganGraphs.WeightSpecs(vqgan),
        TransformerConfig transformer => MaskedTransformerGraph.WeightSpecs(transformer),
        _ => throw new ArgumentException($"Unknown architecture {config.GetType().Name}.", nameof(config)),
    };

    /// <summary>
    /// Checks that <paramref name="weights"/> holds exactly the F32 tensors of <paramref name="specs"/> with
    /// their shapes; the message lists every missing, unexpected and mis-shaped name.
    /// </summary>
    /// <exception cref="InvalidDataException">The weights do not match.</exception>
    public static void Validate(IReadOnlyList<WeightSpec> specs, IReadOnlyDictionary<string, WeightTensor> weights)
    {
        var problems = new List<string>();
        foreach (var spec in specs)
        {
            if (!weights.TryGetValue(spec.Name, out var tensor))
            {
                problems.Add($"missing {spec.Name}");
            }
            else if (tensor.DType != WeightDType.F32 || !tensor.Shape.SequenceEqual(spec.Shape))
            {
                problems.Add($"{spec.Name} is {tensor.DType} {tensor.ShapeText}, expected F32 [{string.Join(", ", spec.Shape)}]");
            }
        }

        var expected = specs.Select(s => s.Name).ToHashSet(StringComparer.Ordinal);
        problems.AddRange(weights.Keys.Where(k => !expected.Contains(k)).Order(StringComparer.Ordinal).Select(k => $"unexpected {k}"));
        if (problems.Count > 0)
        {
            throw new InvalidDataException($"Weights do not match the architecture: {string.Join("; ", problems)}.");
        }
    }
}

/// <summary>Seeded random weights for test fixtures: deterministic in (seed, stream), independent of the machine.</summary>
public static class RandomWeights
{
    /// <summary>
    /// One tensor per spec. Element <c>e</c> of tensor <c>t</c> is
    /// <c>Std · CounterRng.Normal(seed, stream, t, e, WeightInit)</c>, so two models built with the same seed but
    /// different <paramref name="stream"/>s (one per stage) do not share noise.
    /// </summary>
    public static Dictionary<string, WeightTensor> Create(IReadOnlyList<WeightSpec> specs, ulong seed, ulong stream)
    {
        var weights = new Dictionary<string, WeightTensor>(StringComparer.Ordinal);
        for (var t = 0; t < specs.Count; t++)
        {
            weights[specs[t].Name] = WeightTensor.Float(Values(specs[t], t, seed, stream), specs[t].Shape);
        }

        return weights;
    }

    /// <summary>
    /// The same tensors as <see cref="Create"/>, made only when read (<see cref="WeightTensor.LazyFloat"/>): a model of
    /// any size is written one tensor at a time, each filled on every core.
    /// </summary>
    public static Dictionary<string, WeightTensor> Lazy(IReadOnlyList<WeightSpec> specs, ulong seed, ulong stream)
    {
        var weights = new Dictionary<string, WeightTensor>(StringComparer.Ordinal);
        for (var t = 0; t < specs.Count; t++)
        {
            var (spec, index) = (specs[t], t);
            weights[spec.Name] = WeightTensor.LazyFloat(() => Values(spec, index, seed, stream), spec.Shape);
        }

        return weights;
    }

    // Element e of tensor t depends on (seed, stream, t, e) only, so chunks can be filled in any order.
    private static float[] Values(WeightSpec spec, int t, ulong seed, ulong stream)
    {
        var data = new float[WeightTensor.ElementCountOf(spec.Shape)];
        if (spec.Init.Constant is { } constant)
        {
            Array.Fill(data, constant);
            return data;
        }

        const int Chunk = 1 << 16;
        var chunks = (data.Length + Chunk - 1) / Chunk;
        void Fill(int c)
        {
            for (var e = c * Chunk; e < Math.Min(data.Length, (c + 1) * Chunk); e++)
            {
                data[e] = (float)(spec.Init.Std * CounterRng.Normal(seed, stream, (ulong)t, (ulong)e, (ulong)RngPurpose.WeightInit));
            }
        }

        if (chunks == 1)
        {
            Fill(0);
        }
        else
        {
            Parallel.For(0, chunks, Fill);
        }

        return data;
    }
}

/// <summary>
/// The weight specs of common layers under PyTorch's names (<c>.weight</c>, <c>.bias</c>), shared by every
/// architecture's <c>WeightSpecs</c> so that a layer is described once.
/// </summary>
internal static class WeightSpecLayers
{
    /// <summary>A linear layer: weight [out, in] (fan-in init), bias [out].</summary>
    public static void AddLinear(this List<WeightSpec> specs, string prefix, long inFeatures, long outFeatures)
    {
        specs.Add(new($"{prefix}.weight", [outFeatures, inFeatures], WeightInit.FanIn(inFeatures)));
        specs.Add(new($"{prefix}.bias", [outFeatures], WeightInit.Zeros));
    }

    /// <summary>A layer or group norm: scale [width] of ones, shift [width] of zeros.</summary>
    public static void AddNorm(this List<WeightSpec> specs, string prefix, long width)
    {
        specs.Add(new($"{prefix}.weight", [width], WeightInit.Ones));
        specs.Add(new($"{prefix}.bias", [width], WeightInit.Zeros));
    }

    /// <summary>A square 2-D convolution: weight [out, in, k, k] (fan-in init), bias [out].</summary>
    public static void AddConv(this List<WeightSpec> specs, string prefix, long inChannels, long outChannels, int kernel)
    {
        specs.Add(new($"{prefix}.weight", [outChannels, inChannels, kernel, kernel], WeightInit.FanIn(inChannels * kernel * kernel)));
        specs.Add(new($"{prefix}.bias", [outChannels], WeightInit.Zeros));
    }

    /// <summary>
    /// A VQ-GAN ResNet block (norm1, conv1, norm2, conv2) with a 1×1 <paramref name="shortcut"/> conv when the channel
    /// count changes (<c>nin_shortcut</c> in taming's naming, <c>conv_shortcut</c> in diffusers').
    /// </summary>
    public static void AddResBlock(this List<WeightSpec> specs, string prefix, long inChannels, long outChannels, string shortcut)
    {
        specs.AddNorm($"{prefix}.norm1", inChannels);
        specs.AddConv($"{prefix}.conv1", inChannels, outChannels, 3);
        specs.AddNorm($"{prefix}.norm2", outChannels);
        specs.AddConv($"{prefix}.conv2", outChannels, outChannels, 3);
        if (inChannels != outChannels)
        {
            specs.AddConv($"{prefix}.{shortcut}", inChannels, outChannels, 1);
        }
    }
}
