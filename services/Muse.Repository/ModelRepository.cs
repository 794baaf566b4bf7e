namespace Muse.Repository;

/// <summary>
/// The Triton-like model repository on disk: <c>&lt;root&gt;/&lt;name&gt;/&lt;version&gt;/manifest.json</c>.
/// </summary>
public static class ModelRepository
{
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
}
