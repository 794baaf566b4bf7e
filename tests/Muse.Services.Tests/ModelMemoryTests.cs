using Microsoft.Extensions.Logging.Abstractions;
using Muse.Inference;
using Muse.Repository;
using Muse.Testing;

namespace Muse.Services.Tests;

/// <summary>The load-time memory check, on a real model of the test repository and a budget smaller than it.</summary>
public sealed class ModelMemoryTests
{
    private static (ModelManifest Manifest, string Folder) Base()
    {
        var folder = Repo.Model("muse-random-base");
        return (ModelManifest.Load(Path.Combine(folder, "manifest.json")), folder);
    }

    [Fact]
    public void Load_BudgetSmallerThanTheWeights_IsRefusedNamingBothSizes()
    {
        var (manifest, folder) = Base();
        var options = new InferenceOptions { Providers = [ExecutionProvider.Cpu], MemoryBudgetBytes = 64 << 10 };

        var error = Assert.Throws<ModelTooLargeException>(() => ModelLoader.Load(manifest, folder, options, NullLogger.Instance));

        Assert.Contains(manifest.Id, error.Message, StringComparison.Ordinal);
        Assert.Contains("MemoryBudgetBytes (0.00 GiB)", error.Message, StringComparison.Ordinal);
        Assert.Matches(@"weights take \d+\.\d\d GiB in memory, but only \d+\.\d\d GiB is left", error.Message);
    }

    [Fact]
    public void Load_BudgetCoveringTheWeights_Loads()
    {
        var (manifest, folder) = Base();
        var options = new InferenceOptions { Providers = [ExecutionProvider.Cpu], IntraOpThreads = 1, MemoryBudgetBytes = 1L << 30 };

        using var model = ModelLoader.Load(manifest, folder, options, NullLogger.Instance);

        Assert.Equal(ExecutionProvider.Cpu, model.Provider);
    }

    [Fact]
    public void Load_BudgetTakenByModelsLoadedBefore_IsRefused()
    {
        var (manifest, folder) = Base();
        var required = ModelMemory.WeightBytes(manifest, folder);
        var options = new InferenceOptions { Providers = [ExecutionProvider.Cpu], MemoryBudgetBytes = required + 1024 };

        Assert.Throws<ModelTooLargeException>(() => ModelLoader.Load(manifest, folder, options, NullLogger.Instance, alreadyLoadedBytes: 2048));
    }

    [Fact]
    public void WeightBytes_ManifestWithoutTheField_CountsTheGraphAndItsDataFiles()
    {
        var (manifest, folder) = Base();

        var bytes = ModelMemory.WeightBytes(manifest with { WeightBytes = 0 }, folder);

        var expected = Directory.EnumerateFiles(folder, "model.onnx*").Sum(f => new FileInfo(f).Length);
        Assert.Equal(expected, bytes);
        Assert.True(bytes > 1 << 20, $"{bytes} bytes: the external data was not counted");
    }
}
