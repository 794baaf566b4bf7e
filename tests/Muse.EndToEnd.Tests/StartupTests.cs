using System.Text.Json;
using Muse.Cluster;
using Muse.Repository;

namespace Muse.EndToEnd.Tests;

public sealed class StartupTests
{
    [Fact]
    public async Task Orchestrator_PipelinePairingIncompatibleModels_RefusesToStart()
    {
        // The base model listed as the SR stage: its grid (8x8) cannot be conditioned on an 8x8 base grid as SR.
        var repository = ModelRepository.Locate();
        var path = Path.Combine(Path.GetTempPath(), $"muse-bad-pipelines-{Guid.NewGuid():N}.json");
        var pipelines = new PipelinesDocument
        {
            DefaultPipeline = "broken",
            Pipelines = new()
            {
                ["broken"] = new PipelineDefinition
                {
                    Stages = new()
                    {
                        [Stages.TextEncoder] = [new("muse-random-t5", "1")],
                        [Stages.ImageTokenizer] = [new("muse-random-vqgan", "1")],
                        [Stages.Base] = [new("muse-random-base", "1")],
                        [Stages.SuperResolution] = [new("muse-random-base", "1")],
                    },
                },
            },
        };
        await File.WriteAllTextAsync(path, JsonSerializer.Serialize(pipelines, ModelManifest.JsonOptions));
        var options = new LocalClusterOptions { Repository = repository };
        options.OrchestratorArguments.Add($"--Muse:Pipelines={path}");

        try
        {
            var error = await Assert.ThrowsAnyAsync<Exception>(async () => await (await LocalCluster.StartAsync(options)).DisposeAsync());

            Assert.Contains("lists muse-random-base/1, a 'base' model, under 'sr'", error.Message, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
