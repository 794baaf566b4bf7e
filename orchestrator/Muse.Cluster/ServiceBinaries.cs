namespace Muse.Cluster;

/// <summary>Finds the build output of the service projects a local cluster runs.</summary>
public static class ServiceBinaries
{
    /// <summary>Environment variable that overrides where service builds are looked for.</summary>
    public const string BinRootVariable = "MUSE_BIN_ROOT";

    /// <summary>The text encoder project.</summary>
    public const string TextEncoder = "Muse.TextEncoder";

    /// <summary>The image tokenizer project.</summary>
    public const string ImageTokenizer = "Muse.ImageTokenizer";

    /// <summary>The transformer project (base and sr replicas run the same binary).</summary>
    public const string Transformer = "Muse.Transformer";

    /// <summary>The orchestrator project.</summary>
    public const string Orchestrator = "Muse.Orchestrator";

    /// <summary>
    /// Path of <c>&lt;project&gt;.dll</c>. Looks under <paramref name="binRoot"/>, else <c>MUSE_BIN_ROOT</c>, else two
    /// folders above this application's folder (with <c>UseArtifactsOutput</c> that is <c>artifacts/bin</c>, whose
    /// children are <c>&lt;Project&gt;/&lt;pivot&gt;/</c>); in each root it tries the pivot of this application
    /// (<c>debug</c>, <c>release</c>, …), then <c>release</c>, <c>debug</c>, then the flat <c>&lt;Project&gt;/</c>.
    /// </summary>
    /// <exception cref="FileNotFoundException">No candidate exists; the message lists every path tried.</exception>
    public static string Resolve(string project, string? binRoot = null) =>
        ResolveFrom(project, binRoot ?? Environment.GetEnvironmentVariable(BinRootVariable), AppContext.BaseDirectory);

    internal static string ResolveFrom(string project, string? binRoot, string baseDirectory)
    {
        var candidates = Candidates(project, binRoot, baseDirectory);
        return candidates.FirstOrDefault(File.Exists) ?? throw new FileNotFoundException(
            $"No build of {project} found; build it (dotnet build orchestrator/Muse.Cli builds every service) or set "
            + $"{BinRootVariable}. Tried: {string.Join(", ", candidates)}",
            candidates[0]);
    }

    internal static IReadOnlyList<string> Candidates(string project, string? binRoot, string baseDirectory)
    {
        var ownFolder = Path.TrimEndingDirectorySeparator(Path.GetFullPath(baseDirectory));
        var pivot = Path.GetFileName(ownFolder);
        var root = string.IsNullOrWhiteSpace(binRoot)
            ? Path.GetFullPath(Path.Combine(ownFolder, "..", ".."))
            : Path.GetFullPath(binRoot);
        var file = project + ".dll";
        return new[] { pivot, "release", "debug" }
            .Distinct(StringComparer.Ordinal)
            .Select(p => Path.Combine(root, project, p, file))
            .Append(Path.Combine(root, project, file))
            .ToList();
    }
}
