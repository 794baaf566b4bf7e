using System.Text.Json;
using Muse.Repository;

namespace Muse.Orchestrator.Tests;

/// <summary>
/// A model repository of manifests only, in a temp folder, with a pipelines.json beside them: t/1, v/1, b/1, b/2, s/1
/// work together; b/9 has another codebook.
/// </summary>
internal sealed class TestRepository : IDisposable
{
    public TestRepository()
    {
        Root = Directory.CreateTempSubdirectory("muse-pipelines-").FullName;
        Write(new ModelManifest
        {
            Name = "t", Version = "1", Stage = Stages.TextEncoder, TextEmbeddingDim = 16, TextMaxLength = 8,
            Files = new() { ["model"] = "m.onnx", ["tokenizer"] = "spiece.model" },
        });
        Write(new ModelManifest
        {
            Name = "v", Version = "1", Stage = Stages.ImageTokenizer, CodebookSize = 32, DownsampleFactor = 8,
            Files = new() { ["encoder"] = "e.onnx", ["decoder"] = "d.onnx" },
        });
        Write(Transformer("b", "1", Stages.Base, 8, 8));
        Write(Transformer("b", "2", Stages.Base, 8, 8));
        Write(Transformer("b", "9", Stages.Base, 8, 8) with { CodebookSize = 1024, MaskTokenId = 1024 });
        Write(Transformer("s", "1", Stages.SuperResolution, 16, 16) with { LowResGridHeight = 8, LowResGridWidth = 8 });
    }

    public string Root { get; }

    public string PipelinesPath => Path.Combine(Root, "pipelines.json");

    public ModelManifest Manifest(string id) => ModelRepository.Find(Root, id).Manifest;

    /// <summary>Pipeline "p" with version 1 of every stage, except the listed (stage, id, weight) candidates.</summary>
    public static string Pipelines(params (string Stage, string Id, double Weight)[] candidates)
    {
        var stages = new Dictionary<string, List<object>>
        {
            [Stages.TextEncoder] = [Candidate("t/1", 1)],
            [Stages.ImageTokenizer] = [Candidate("v/1", 1)],
            [Stages.Base] = [Candidate("b/1", 1)],
            [Stages.SuperResolution] = [Candidate("s/1", 1)],
        };
        foreach (var group in candidates.GroupBy(c => c.Stage))
        {
            stages[group.Key] = [.. group.Select(c => Candidate(c.Id, c.Weight))];
        }

        var document = new { defaultPipeline = "p", pipelines = new Dictionary<string, object> { ["p"] = new { stages, defaults = new { baseSteps = 4, srSteps = 2 } } } };
        return JsonSerializer.Serialize(document, ModelManifest.JsonOptions);
    }

    public void Dispose() => Directory.Delete(Root, recursive: true);

    private static object Candidate(string id, double weight) => new { model = id.Split('/')[0], version = id.Split('/')[1], weight };

    /// <summary>A base or SR transformer manifest: codebook 32, text [8, 16], grid h × w.</summary>
    public static ModelManifest Transformer(string name, string version, string stage, int h, int w) => new()
    {
        Name = name, Version = version, Stage = stage, CodebookSize = 32, MaskTokenId = 32, GridHeight = h, GridWidth = w,
        TextEmbeddingDim = 16, TextMaxLength = 8, Files = new() { ["model"] = "m.onnx" },
    };

    /// <summary>Writes <paramref name="manifest"/> into the repository (replacing one of the same id).</summary>
    public void Write(ModelManifest manifest)
    {
        var folder = Path.Combine(Root, manifest.Name, manifest.Version);
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "manifest.json"), JsonSerializer.Serialize(manifest, ModelManifest.JsonOptions));
    }
}
