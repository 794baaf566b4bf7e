using Muse.Decoding;
using Muse.ModelBuilder.Architectures;

namespace Muse.ModelBuilder.Tests;

/// <summary>Deterministic inputs and tiny architecture configs shared by the tests.</summary>
internal static class TestData
{
    public static float[] Normal(int count, ulong stream, double std = 1.0)
    {
        var values = new float[count];
        for (var i = 0; i < count; i++)
        {
            values[i] = (float)(std * CounterRng.Normal(7, stream, 0, (ulong)i, (ulong)RngPurpose.Data));
        }

        return values;
    }

    public static long[] Ids(int count, ulong stream, int exclusiveMax)
    {
        var values = new long[count];
        for (var i = 0; i < count; i++)
        {
            values[i] = (long)(CounterRng.Uniform(7, stream, 1, (ulong)i, (ulong)RngPurpose.Data) * exclusiveMax);
        }

        return values;
    }

    public static T5Config TinyT5 { get; } = new()
    {
        VocabSize = 24, DModel = 16, NumHeads = 2, DFf = 32, NumLayers = 2, NumBuckets = 32, MaxDistance = 64, MaxLength = 8,
    };

    public static VqganConfig TinyVqgan { get; } = new() { Channels = [8, 8, 16, 16], EmbedDim = 4, CodebookSize = 16, Groups = 4 };

    public static TransformerConfig TinyBase { get; } = new()
    {
        CodebookSize = 16, GridHeight = 4, GridWidth = 4, DModel = 16, NumHeads = 2, NumLayers = 2, MlpDim = 32, TextDim = 12, TextMaxLength = 6,
    };

    public static TransformerConfig TinySuperResolution { get; } = TinyBase with { GridHeight = 8, GridWidth = 8, LowResGridHeight = 4, LowResGridWidth = 4 };
}
