using System.Text.Json;
using Muse.Testing;

namespace Muse.EndToEnd.Tests;

/// <summary>
/// The projects that run no model carry no ONNX Runtime: neither in their restored dependency graph nor in their
/// build output. The test project builds them all first (project references), so their outputs are current.
/// </summary>
public sealed class ProjectGraphTests
{
    public static TheoryData<string> ModelFreeProjects => ["Muse.Orchestrator", "Muse.Imaging", "Muse.Cluster", "Muse.Client", "Muse.Hosting", "Muse.Repository"];

    [Theory]
    [MemberData(nameof(ModelFreeProjects))]
    public void Dependency_graph_has_no_onnx_runtime(string project)
    {
        var assets = Path.Combine(Repo.Root, "artifacts", "obj", project, "project.assets.json");
        Assert.True(File.Exists(assets), $"{assets} is missing: build the solution first.");
        using var document = JsonDocument.Parse(File.ReadAllText(assets));
        var libraries = document.RootElement.GetProperty("libraries").EnumerateObject().Select(p => p.Name).ToList();
        Assert.NotEmpty(libraries);
        Assert.DoesNotContain(libraries, name => name.StartsWith("Microsoft.ML.OnnxRuntime", StringComparison.OrdinalIgnoreCase));
    }

    [Theory]
    [MemberData(nameof(ModelFreeProjects))]
    public void Build_output_has_no_onnx_runtime_file(string project)
    {
        var output = Path.Combine(Repo.Root, "artifacts", "bin", project);
        Assert.True(Directory.Exists(output), $"{output} is missing: build the solution first.");
        var files = Directory.EnumerateFiles(output, "*", SearchOption.AllDirectories).ToList();
        Assert.Contains(files, f => Path.GetFileName(f) == $"{project}.dll");
        Assert.DoesNotContain(files, f => Path.GetFileName(f).Contains("onnxruntime", StringComparison.OrdinalIgnoreCase));
    }

    [Fact]
    public void Stage_services_do_carry_onnx_runtime()
    {
        // The counter-check: the same scan finds ONNX Runtime where a model runs.
        var output = Path.Combine(Repo.Root, "artifacts", "bin", "Muse.Transformer");
        Assert.Contains(
            Directory.EnumerateFiles(output, "*", SearchOption.AllDirectories),
            f => Path.GetFileName(f).Contains("onnxruntime", StringComparison.OrdinalIgnoreCase));
    }
}
