namespace Muse.Decoding;

/// <summary>What a random number is drawn for; part of its identity, so two uses never share noise.</summary>
public enum RngPurpose : ulong
{
    /// <summary>Categorical sampling of a token on a transformer replica.</summary>
    Sample = 1,

    /// <summary>Gumbel noise of confidence-based re-masking in the orchestrator.</summary>
    Remask = 2,

    /// <summary>Choice of tokens to re-mask in mask-free editing.</summary>
    EditMask = 3,

    /// <summary>Derivation of per-image seeds from a request seed.</summary>
    ImageSeed = 4,

    /// <summary>Initialisation of model weights (builder, trainer).</summary>
    WeightInit = 5,

    /// <summary>Synthetic training data.</summary>
    Data = 6,
}

/// <summary>Decoding stage, part of the identity of a random number.</summary>
public enum DecodeStage : ulong
{
    /// <summary>Base (low-resolution) transformer.</summary>
    Base = 1,

    /// <summary>Super-resolution transformer.</summary>
    SuperResolution = 2,

    /// <summary>Mask-free editing rounds.</summary>
    Edit = 3,
}

/// <summary>
/// Counter-based randomness: every number is a pure function <c>U(seed, stage, step, position, purpose)</c>,
/// so an image depends only on the request and the model versions, never on batching, replica or retries.
/// SplitMix64's finaliser is applied after folding each coordinate in; it is a bijection with good
/// avalanche, so neighbouring counters give unrelated outputs.
/// </summary>
public static class CounterRng
{
    // Weyl-sequence offsets (multiples of the golden ratio in 64 bits) keep zero coordinates apart.
    private const ulong Golden = 0x9E3779B97F4A7C15UL;
    private const ulong Golden2 = 0x3C6EF372FE94F82AUL;
    private const ulong Golden3 = 0xDAA66D2C7DDF743FUL;
    private const ulong Golden4 = 0x78DDE6E5FD29F054UL;

    /// <summary>64 uniformly distributed bits for the given coordinates.</summary>
    public static ulong Hash(ulong seed, ulong stage, ulong step, ulong position, ulong purpose)
    {
        var h = Mix(seed + Golden);
        h = Mix(h ^ (stage + Golden));
        h = Mix(h ^ (step + Golden2));
        h = Mix(h ^ (position + Golden3));
        return Mix(h ^ (purpose + Golden4));
    }

    /// <summary>A double uniform in the open interval (0, 1): never exactly 0 or 1, so logarithms are safe.</summary>
    public static double Uniform(ulong seed, ulong stage, ulong step, ulong position, ulong purpose) =>
        ToOpenUnit(Hash(seed, stage, step, position, purpose));

    /// <summary>Uniform (0, 1) for a decoding coordinate.</summary>
    public static double Uniform(ulong seed, DecodeStage stage, int step, long position, RngPurpose purpose) =>
        Uniform(seed, (ulong)stage, (ulong)step, (ulong)position, (ulong)purpose);

    /// <summary>Standard Gumbel noise <c>−log(−log u)</c> for a decoding coordinate.</summary>
    public static double Gumbel(ulong seed, DecodeStage stage, int step, long position, RngPurpose purpose) =>
        -Math.Log(-Math.Log(Uniform(seed, stage, step, position, purpose)));

    /// <summary>Standard normal noise (Box–Muller on two independent counters).</summary>
    public static double Normal(ulong seed, ulong stage, ulong step, ulong position, ulong purpose)
    {
        var u1 = Uniform(seed, stage, step, 2 * position, purpose);
        var u2 = Uniform(seed, stage, step, (2 * position) + 1, purpose);
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2);
    }

    /// <summary>The seed of image <paramref name="index"/> of a request: image 0 keeps the request seed.</summary>
    public static ulong ImageSeed(ulong requestSeed, int index) =>
        index == 0 ? requestSeed : Hash(requestSeed, 0, 0, (ulong)index, (ulong)RngPurpose.ImageSeed);

    private static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    // 53 random bits mapped to the centre of one of 2^53 equal cells: strictly inside (0, 1).
    private static double ToOpenUnit(ulong bits) => ((bits >> 11) + 0.5) * (1.0 / (1UL << 53));
}
