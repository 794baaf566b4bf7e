namespace Muse.Cluster.Tests;

public sealed class ServiceBinariesTests : IDisposable
{
    private readonly DirectoryInfo _root = Directory.CreateTempSubdirectory("muse-bin-");

    public void Dispose() => _root.Delete(recursive: true);

    [Fact]
    public void ResolveFrom_NoOverride_FindsSiblingWithSamePivot()
    {
        var baseDirectory = Folder("bin", "Muse.Cli", "release");
        var expected = Touch("bin", "Muse.Transformer", "release", "Muse.Transformer.dll");
        Touch("bin", "Muse.Transformer", "debug", "Muse.Transformer.dll");

        var path = ServiceBinaries.ResolveFrom("Muse.Transformer", binRoot: null, baseDirectory + Path.DirectorySeparatorChar);

        Assert.Equal(expected, path);
    }

    [Fact]
    public void ResolveFrom_OverrideWithOtherPivot_FallsBackToDebug()
    {
        var baseDirectory = Folder("elsewhere", "Muse.Cli", "release");
        var expected = Touch("bin", "Muse.Orchestrator", "debug", "Muse.Orchestrator.dll");

        var path = ServiceBinaries.ResolveFrom("Muse.Orchestrator", Path.Combine(_root.FullName, "bin"), baseDirectory);

        Assert.Equal(expected, path);
    }

    [Fact]
    public void ResolveFrom_FlatLayout_FindsProjectFolder()
    {
        var expected = Touch("app", "Muse.TextEncoder", "Muse.TextEncoder.dll");

        var path = ServiceBinaries.ResolveFrom("Muse.TextEncoder", Path.Combine(_root.FullName, "app"), Folder("cli"));

        Assert.Equal(expected, path);
    }

    [Fact]
    public void ResolveFrom_Missing_ThrowsNamingEveryCandidate()
    {
        var baseDirectory = Folder("bin", "Muse.Cli", "debug");

        var error = Assert.Throws<FileNotFoundException>(
            () => ServiceBinaries.ResolveFrom("Muse.ImageTokenizer", binRoot: null, baseDirectory));

        var candidates = ServiceBinaries.Candidates("Muse.ImageTokenizer", binRoot: null, baseDirectory);
        Assert.Equal(3, candidates.Count); // debug/, release/, flat
        Assert.All(candidates, candidate => Assert.Contains(candidate, error.Message, StringComparison.Ordinal));
        Assert.Contains(ServiceBinaries.BinRootVariable, error.Message, StringComparison.Ordinal);
    }

    private string Folder(params string[] parts) => Directory.CreateDirectory(Path.Combine([_root.FullName, .. parts])).FullName;

    private string Touch(params string[] parts)
    {
        var path = Path.Combine([_root.FullName, .. parts]);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, "");
        return path;
    }
}
