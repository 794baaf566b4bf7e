using System.Globalization;
using Muse.Repository;

namespace Muse.Inference;

/// <summary>A model refused at load because its weights do not fit the memory left for them.</summary>
public sealed class ModelTooLargeException(string message) : InvalidOperationException(message);

/// <summary>
/// The load-time memory check: what a model's weights take once loaded, against what this machine (or a configured
/// budget) has left. Without it a model larger than memory is paged in until the kernel kills the process, minutes
/// later and without saying why.
/// </summary>
public static class ModelMemory
{
    /// <summary>
    /// Bytes the weights of <paramref name="manifest"/> take once loaded: the manifest's <c>weightBytes</c>, or else the
    /// sizes of its ONNX files and their external data files (<c>model.onnx.data</c>, <c>model.onnx.data.1</c>, …).
    /// </summary>
    public static long WeightBytes(ModelManifest manifest, string folder)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        if (manifest.WeightBytes > 0)
        {
            return manifest.WeightBytes;
        }

        return manifest.Files.Values
            .Where(file => file.EndsWith(".onnx", StringComparison.Ordinal))
            .SelectMany(file => Directory.EnumerateFiles(folder, file + "*"))
            .Sum(path => new FileInfo(path).Length);
    }

    /// <summary>
    /// Memory available for new weights: <paramref name="budgetBytes"/> less what earlier models of this load took when
    /// a budget is set, else the kernel's <c>MemAvailable</c> (Linux) or the runtime's view of available memory.
    /// </summary>
    public static long Available(long budgetBytes, long alreadyLoadedBytes)
    {
        if (budgetBytes > 0)
        {
            return budgetBytes - alreadyLoadedBytes;
        }

        const string MemInfo = "/proc/meminfo";
        if (File.Exists(MemInfo))
        {
            var line = File.ReadLines(MemInfo).FirstOrDefault(l => l.StartsWith("MemAvailable:", StringComparison.Ordinal));
            if (line is not null)
            {
                return long.Parse(line.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
            }
        }

        var gc = GC.GetGCMemoryInfo();
        return gc.TotalAvailableMemoryBytes - gc.MemoryLoadBytes;
    }

    /// <summary>Throws <see cref="ModelTooLargeException"/> naming both sizes when <paramref name="required"/> exceeds <paramref name="available"/>.</summary>
    public static void EnsureFits(ModelManifest manifest, long required, long available, long budgetBytes)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        if (required <= available)
        {
            return;
        }

        var source = budgetBytes > 0 ? $"the configured budget {Muse.Inference.InferenceOptions.Section}:MemoryBudgetBytes ({Gib(budgetBytes)}) less the models already loaded" : "this machine's available memory";
        throw new ModelTooLargeException(
            $"Model {manifest.Id} ({manifest.Stage}) does not fit: its weights take {Gib(required)} in memory, but only {Gib(Math.Max(0, available))} is left ({source}). " +
            "Load it on a machine with more memory or a GPU, or use a smaller model (e.g. muse models build-random … --text-encoder t5-large).");
    }

    private static string Gib(long bytes) => (bytes / (double)(1L << 30)).ToString("0.00", CultureInfo.InvariantCulture) + " GiB";
}
