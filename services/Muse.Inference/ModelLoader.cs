using Microsoft.Extensions.Logging;
using Muse.Repository;

namespace Muse.Inference;

/// <summary>A model version loaded for serving: its manifest and one <see cref="OnnxModel"/> per graph role.</summary>
/// <remarks>Owns its sessions; dispose it (the DI container does) to release them.</remarks>
public sealed class LoadedModel : IDisposable
{
    private readonly Dictionary<string, OnnxModel> _graphs;

    internal LoadedModel(ModelManifest manifest, string folder, Dictionary<string, OnnxModel> graphs)
    {
        Manifest = manifest;
        Folder = folder;
        _graphs = graphs;
    }

    /// <summary>The validated manifest.</summary>
    public ModelManifest Manifest { get; }

    /// <summary>Folder of the manifest; other files of <see cref="ModelManifest.Files"/> are relative to it.</summary>
    public string Folder { get; }

    /// <summary>The session of a graph role (<c>model</c>, <c>encoder</c>, <c>decoder</c>).</summary>
    public OnnxModel Graph(string role) => _graphs.TryGetValue(role, out var graph)
        ? graph
        : throw new InvalidOperationException($"{Manifest.Id} has no graph '{role}'.");

    /// <summary>
    /// The graph's name of the input that plays <paramref name="tensorRole"/> (e.g. <c>tokens</c>) in the graph of
    /// <paramref name="graphRole"/>, from the manifest's <c>inputs</c>: key <c>tensorRole</c> for the single-graph role
    /// <c>model</c>, <c>graphRole.tensorRole</c> otherwise (<c>encoder.image</c>). The one mapping every stage uses.
    /// </summary>
    /// <exception cref="InvalidOperationException">The manifest names no tensor for the role, or one the graph lacks.</exception>
    public string InputName(string graphRole, string tensorRole) =>
        TensorName(Manifest.Inputs, "input", graphRole, tensorRole, Graph(graphRole).InputNames);

    /// <summary>Like <see cref="InputName"/>, for an output (manifest <c>outputs</c>).</summary>
    /// <exception cref="InvalidOperationException">The manifest names no tensor for the role, or one the graph lacks.</exception>
    public string OutputName(string graphRole, string tensorRole) =>
        TensorName(Manifest.Outputs, "output", graphRole, tensorRole, Graph(graphRole).OutputNames);

    /// <summary>Absolute path of a non-graph file role, e.g. <c>tokenizer</c>.</summary>
    public string FilePath(string role) => Path.Combine(Folder, Manifest.Files[role]);

    /// <summary>The execution provider of the first graph (all graphs of a model use the same options).</summary>
    public ExecutionProvider Provider => _graphs.Values.First().Provider;

    /// <inheritdoc/>
    public void Dispose()
    {
        foreach (var graph in _graphs.Values)
        {
            graph.Dispose();
        }
    }

    private string TensorName(
        Dictionary<string, string> map, string kind, string graphRole, string tensorRole, IReadOnlyList<string> graphNames)
    {
        var key = graphRole == "model" ? tensorRole : $"{graphRole}.{tensorRole}";
        if (!map.TryGetValue(key, out var name))
        {
            throw new InvalidOperationException($"Model {Manifest.Id}: the manifest names no {kind} tensor for '{key}'.");
        }

        return graphNames.Contains(name)
            ? name
            : throw new InvalidOperationException(
                $"Model {Manifest.Id}: {kind} '{key}' maps to '{name}', which is not one of the graph's [{string.Join(", ", graphNames)}].");
    }
}

/// <summary>Creates the ONNX Runtime sessions of model versions found in the <see cref="ModelRepository"/>.</summary>
public static class ModelLoader
{
    private static readonly string[] GraphRoles = ["model", "encoder", "decoder"];

    /// <summary>
    /// Loads the models a stage process serves: the configured ids, or every model of <paramref name="stages"/>.
    /// </summary>
    /// <remarks>The caller owns the returned models and must dispose them.</remarks>
    public static IReadOnlyList<LoadedModel> LoadForStage(
        InferenceOptions options, IReadOnlyCollection<string> stages, ILogger logger)
    {
        var root = ModelRepository.Locate(options.Repository);
        var selected = options.Models.Count > 0
            ? options.Models.Select(id => ModelRepository.Find(root, id)).ToList()
            : ModelRepository.Scan(root).Where(m => stages.Contains(m.Manifest.Stage)).ToList();
        var wrong = selected.FirstOrDefault(m => !stages.Contains(m.Manifest.Stage));
        if (wrong.Manifest is not null)
        {
            throw new InvalidOperationException(
                $"Model {wrong.Manifest.Id} is a '{wrong.Manifest.Stage}' model; this process serves {string.Join(" or ", stages)}.");
        }

        if (selected.Count == 0)
        {
            throw new InvalidOperationException($"No {string.Join("/", stages)} model found in {root}.");
        }

        var loaded = new List<LoadedModel>();
        try
        {
            var loadedBytes = 0L;
            foreach (var (manifest, folder) in selected)
            {
                loaded.Add(Load(manifest, folder, options, logger, loadedBytes));
                loadedBytes += ModelMemory.WeightBytes(manifest, folder);
            }

            return loaded;
        }
        catch
        {
            foreach (var model in loaded)
            {
                model.Dispose();
            }

            throw;
        }
    }

    /// <summary>
    /// Creates the sessions of one model version, after checking that its weights fit the memory left
    /// (<see cref="InferenceOptions.MemoryBudgetBytes"/> less <paramref name="alreadyLoadedBytes"/>, or what the machine
    /// has available).
    /// </summary>
    /// <remarks>The caller owns the returned model and must dispose it.</remarks>
    /// <exception cref="ModelTooLargeException">The weights do not fit; nothing was loaded.</exception>
    public static LoadedModel Load(ModelManifest manifest, string folder, InferenceOptions options, ILogger logger, long alreadyLoadedBytes = 0)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        ArgumentNullException.ThrowIfNull(options);
        var required = ModelMemory.WeightBytes(manifest, folder);
        ModelMemory.EnsureFits(manifest, required, ModelMemory.Available(options.MemoryBudgetBytes, alreadyLoadedBytes), options.MemoryBudgetBytes);
        var graphs = new Dictionary<string, OnnxModel>();
        try
        {
            foreach (var role in GraphRoles.Where(manifest.Files.ContainsKey))
            {
                graphs[role] = OnnxModel.Load(Path.Combine(folder, manifest.Files[role]), options, logger);
            }

            InferenceLog.ModelLoaded(logger, manifest.Id, manifest.Stage, folder);
            return new LoadedModel(manifest, folder, graphs);
        }
        catch
        {
            foreach (var graph in graphs.Values)
            {
                graph.Dispose();
            }

            throw;
        }
    }
}
