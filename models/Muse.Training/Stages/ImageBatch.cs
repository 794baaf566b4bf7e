using static TorchSharp.torch;

namespace Muse.Training.Stages;

/// <summary>Turns rendered RGB bytes (row-major, interleaved, as the renderer returns them) into model inputs.</summary>
internal static class ImageBatch
{
    /// <summary>Images of side <paramref name="size"/> → [B, 3, size, size] in [-1, 1] (<c>p/127.5 − 1</c>).</summary>
    public static Tensor FromRgb(IReadOnlyList<byte[]> images, int size) => FromRgbCrops(images, size, size, null);

    /// <summary>
    /// Square crops of side <paramref name="crop"/> at (x, y) of images of side <paramref name="size"/>
    /// → [B, 3, crop, crop] in [-1, 1].
    /// </summary>
    public static Tensor FromRgbCrops(IReadOnlyList<byte[]> images, int size, int crop, IReadOnlyList<(int X, int Y)>? origins)
    {
        var plane = crop * crop;
        var data = new float[images.Count * 3 * plane];
        for (var b = 0; b < images.Count; b++)
        {
            var (ox, oy) = origins is null ? (0, 0) : origins[b];
            var rgb = images[b];
            for (var y = 0; y < crop; y++)
            {
                for (var x = 0; x < crop; x++)
                {
                    var src = (((oy + y) * size) + ox + x) * 3;
                    var dst = (b * 3 * plane) + (y * crop) + x;
                    data[dst] = (rgb[src] / 127.5f) - 1f;
                    data[dst + plane] = (rgb[src + 1] / 127.5f) - 1f;
                    data[dst + (2 * plane)] = (rgb[src + 2] / 127.5f) - 1f;
                }
            }
        }

        return tensor(data, [images.Count, 3, crop, crop]);
    }

    /// <summary>PSNR in dB of reconstructions vs. targets, both in [-1, 1] (peak-to-peak 2); reconstructions are clamped first.</summary>
    public static double Psnr(Tensor reconstruction, Tensor target)
    {
        using var scope = NewDisposeScope();
        var mse = (reconstruction.clamp(-1, 1) - target).pow(2).mean().item<float>();
        return 10 * Math.Log10(4.0 / Math.Max(mse, 1e-12));
    }
}
