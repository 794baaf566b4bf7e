using System.Text.Json.Nodes;
using Muse.Repository;

namespace Muse.ModelBuilder.Tests;

public sealed class PipelinesFileTests : IDisposable
{
    private readonly string _path = Path.Combine(Directory.CreateTempSubdirectory("muse-pipelines-").FullName, "pipelines.json");

    [Fact]
    public void Upsert_ExistingPipeline_ReplacesItsModelsAndKeepsItsTunedDefaults()
    {
        File.WriteAllText(_path, """
            { "defaultPipeline": "p", "pipelines": { "p": {
              "stages": { "base": [{ "model": "b", "version": "1", "weight": 1 }] },
              "defaults": { "baseSteps": 16, "guidanceScale": 1.5 } } } }
            """);

        PipelinesFile.Upsert(_path, "p", Definition("2"));

        var pipeline = JsonNode.Parse(File.ReadAllText(_path))!["pipelines"]!["p"]!;
        Assert.Equal("2", (string?)pipeline["stages"]!["base"]![0]!["version"]);
        Assert.Equal(1.5, (double)pipeline["defaults"]!["guidanceScale"]!);
        Assert.Equal(16, (int)pipeline["defaults"]!["baseSteps"]!);
    }

    [Fact]
    public void Upsert_NewPipeline_WritesTheDefinitionsDefaults()
    {
        PipelinesFile.Upsert(_path, "p", Definition("1"));

        var root = JsonNode.Parse(File.ReadAllText(_path))!;
        Assert.Equal("p", (string?)root["defaultPipeline"]);
        Assert.Equal(new PipelineDefaults().GuidanceScale, (double)root["pipelines"]!["p"]!["defaults"]!["guidanceScale"]!);
    }

    public void Dispose() => Directory.Delete(Path.GetDirectoryName(_path)!, recursive: true);

    private static PipelineDefinition Definition(string version) => new()
    {
        Stages = new() { [Stages.Base] = [new PipelineStageModel("b", version)] },
    };
}
