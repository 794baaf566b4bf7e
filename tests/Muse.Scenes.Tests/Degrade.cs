using Muse.Decoding;

namespace Muse.Scenes.Tests;

/// <summary>Imitates the softness and grain of VQGAN reconstructions on clean renders.</summary>
internal static class Degrade
{
    /// <summary>A separable binomial blur: [1, 2, 1]/4 applied <paramref name="passes"/> times per axis.</summary>
    public static byte[] Blur(byte[] rgb, int size, int passes = 1)
    {
        var image = rgb.Select(v => (double)v).ToArray();
        for (var pass = 0; pass < passes; pass++)
        {
            image = BlurAxis(BlurAxis(image, size, 3), size, size * 3);
        }

        return [.. image.Select(v => (byte)Math.Clamp(Math.Round(v), 0, 255))];
    }

    /// <summary>Adds Gaussian noise of standard deviation <paramref name="sigma"/> (0–255 scale) to every channel.</summary>
    public static byte[] Noise(byte[] rgb, double sigma, ulong seed) =>
        [.. rgb.Select((v, i) => (byte)Math.Clamp(Math.Round(v + (sigma * CounterRng.Normal(seed, 0, 0, (ulong)i, (ulong)RngPurpose.Data))), 0, 255))];

    // stride: 3 for horizontal neighbours, size·3 for vertical ones; edges repeat the border pixel.
    private static double[] BlurAxis(double[] image, int size, int stride)
    {
        var result = new double[image.Length];
        var lineLength = size * 3;
        for (var i = 0; i < image.Length; i++)
        {
            var along = stride == 3 ? i % lineLength / 3 : i / lineLength;
            var before = along > 0 ? image[i - stride] : image[i];
            var after = along < size - 1 ? image[i + stride] : image[i];
            result[i] = (before + (2 * image[i]) + after) / 4;
        }

        return result;
    }
}
