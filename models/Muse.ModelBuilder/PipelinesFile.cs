using System.Text.Json;
using System.Text.Json.Nodes;
using Muse.Repository;

namespace Muse.ModelBuilder;

/// <summary>Edits <c>pipelines.json</c> in place, keeping whatever else the file holds.</summary>
public static class PipelinesFile
{
    /// <summary>Pipeline <paramref name="name"/> of the file at <paramref name="path"/>; an absent one is an error naming those there are.</summary>
    public static PipelineDefinition Read(string path, string name)
    {
        var document = JsonSerializer.Deserialize<PipelinesDocument>(File.ReadAllText(path), ModelManifest.JsonOptions)
            ?? throw new InvalidDataException($"{path}: empty.");
        return document.Pipelines.TryGetValue(name, out var pipeline)
            ? pipeline
            : throw new InvalidDataException($"{path} has no pipeline '{name}'; it has {string.Join(", ", document.Pipelines.Keys)}.");
    }

    /// <summary>
    /// Sets pipeline <paramref name="name"/> to <paramref name="pipeline"/>, keeping every other pipeline and key;
    /// <c>defaultPipeline</c> becomes <paramref name="name"/> only when the file has none. When the pipeline is
    /// already there with <c>defaults</c>, those are kept: they are tuned by hand for the models, and an export
    /// changes the models, not how they are decoded. Creates the file if absent.
    /// </summary>
    public static void Upsert(string path, string name, PipelineDefinition pipeline)
    {
        var root = File.Exists(path)
            ? JsonNode.Parse(File.ReadAllText(path)) as JsonObject ?? throw new InvalidDataException($"{path}: not a JSON object.")
            : [];
        if (root["defaultPipeline"] is null)
        {
            root["defaultPipeline"] = name;
        }

        if (root["pipelines"] is not JsonObject pipelines)
        {
            pipelines = [];
            root["pipelines"] = pipelines;
        }

        var kept = (pipelines[name] as JsonObject)?["defaults"]?.DeepClone();
        var node = JsonSerializer.SerializeToNode(pipeline, ModelManifest.JsonOptions)!.AsObject();
        if (kept is not null)
        {
            node["defaults"] = kept;
        }

        pipelines[name] = node;
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        File.WriteAllText(path, root.ToJsonString(ModelManifest.JsonOptions) + "\n");
    }
}
