using Microsoft.Extensions.Logging;

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
}

/// <summary>
/// The Triton-like model repository on disk: <c>&lt;root&gt;/&lt;name&gt;/&lt;version&gt;/manifest.json</c>.
/// </summary>
public static class ModelRepository
{
    private static readonly string[] GraphRoles = ["model", "encoder", "decoder"];

    /// <summary>
    /// The repository folder: <paramref name="configured"/> when set, else the environment variable
    /// <c>MUSE_MODEL_REPOSITORY</c>, else the first <c>models/repository</c> walking up from the working directory
    /// and then from the application folder.
    /// </summary>
    /// <exception cref="DirectoryNotFoundException">No repository can be found.</exception>
    public static string Locate(string? configured = null)
    {
        var explicitRoot = string.IsNullOrWhiteSpace(configured)
            ? Environment.GetEnvironmentVariable("MUSE_MODEL_REPOSITORY")
            : configured;
        if (!string.IsNullOrWhiteSpace(explicitRoot))
        {
            return Directory.Exists(explicitRoot)
                ? Path.GetFullPath(explicitRoot)
                : throw new DirectoryNotFoundException($"Model repository '{explicitRoot}' does not exist.");
        }

        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                var candidate = Path.Combine(dir.FullName, "models", "repository");
                if (Directory.Exists(candidate))
                {
                    return candidate;
                }
            }
        }

        throw new DirectoryNotFoundException(
            "No models/repository folder found above the working directory; set Muse:Inference:Repository or MUSE_MODEL_REPOSITORY.");
    }

    /// <summary>Every manifest in the repository, validated, ordered by name then version.</summary>
    public static IReadOnlyList<(ModelManifest Manifest, string Folder)> Scan(string root) =>
        Directory.EnumerateFiles(root, "manifest.json", SearchOption.AllDirectories)
            .Select(path => (Manifest: ModelManifest.Load(path), Folder: Path.GetDirectoryName(path)!))
            .OrderBy(m => m.Manifest.Name, StringComparer.Ordinal)
            .ThenBy(m => m.Manifest.Version, StringComparer.Ordinal)
            .ToList();

    /// <summary>Reads <c>&lt;root&gt;/&lt;name&gt;/&lt;version&gt;/manifest.json</c> for an id <c>name/version</c>.</summary>
    public static (ModelManifest Manifest, string Folder) Find(string root, string id)
    {
        var parts = id.Split('/');
        if (parts.Length != 2 || parts.Any(string.IsNullOrWhiteSpace) || parts.Any(p => p is "." or ".."))
        {
            throw new ArgumentException($"Model id '{id}' is not of the form name/version.", nameof(id));
        }

        var folder = Path.Combine(root, parts[0], parts[1]);
        var path = Path.Combine(folder, "manifest.json");
        return File.Exists(path)
            ? (ModelManifest.Load(path), folder)
            : throw new FileNotFoundException($"Model {id} is not in the repository {root}.", path);
    }

    /// <summary>
    /// Loads the models a stage process serves: the configured ids, or every model of <paramref name="stages"/>.
    /// </summary>
    /// <remarks>The caller owns the returned models and must dispose them.</remarks>
    public static IReadOnlyList<LoadedModel> LoadForStage(
        InferenceOptions options, IReadOnlyCollection<string> stages, ILogger logger)
    {
        var root = Locate(options.Repository);
        var selected = options.Models.Count > 0
            ? options.Models.Select(id => Find(root, id)).ToList()
            : Scan(root).Where(m => stages.Contains(m.Manifest.Stage)).ToList();
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
            foreach (var (manifest, folder) in selected)
            {
                loaded.Add(Load(manifest, folder, options, logger));
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

    /// <summary>Creates the sessions of one model version.</summary>
    /// <remarks>The caller owns the returned model and must dispose it.</remarks>
    public static LoadedModel Load(ModelManifest manifest, string folder, InferenceOptions options, ILogger logger)
    {
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
