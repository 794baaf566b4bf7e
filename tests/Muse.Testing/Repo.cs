namespace Muse.Testing;

/// <summary>Paths of the repository the tests run from, found by walking up to <c>MuseGrpc.sln</c>.</summary>
public static class Repo
{
    private static readonly Lazy<string> LazyRoot = new(FindRoot);

    /// <summary>The repository root (the folder holding <c>MuseGrpc.sln</c>).</summary>
    /// <exception cref="DirectoryNotFoundException">The tests do not run from inside the repository.</exception>
    public static string Root => LazyRoot.Value;

    /// <summary><c>models/repository</c>: the model versions tests load (it may not exist yet in a fresh checkout).</summary>
    public static string ModelRepository => Path.Combine(Root, "models", "repository");

    /// <summary>The folder of one model version, <c>models/repository/&lt;name&gt;/&lt;version&gt;</c>.</summary>
    public static string Model(string name, string version = "1") => Path.Combine(ModelRepository, name, version);

    /// <summary>True when <c>models/repository/&lt;name&gt;/&lt;version&gt;/manifest.json</c> exists.</summary>
    public static bool HasModel(string name, string version = "1") =>
        File.Exists(Path.Combine(Model(name, version), "manifest.json"));

    private static string FindRoot()
    {
        foreach (var start in new[] { AppContext.BaseDirectory, Directory.GetCurrentDirectory() })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "MuseGrpc.sln")))
                {
                    return dir.FullName;
                }
            }
        }

        throw new DirectoryNotFoundException($"No MuseGrpc.sln above {AppContext.BaseDirectory}.");
    }
}
