using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Muse.Orchestrator.Pipelines;
using Muse.Repository;

namespace Muse.Orchestrator.Tests;

public sealed class PipelineCatalogSourceTests : IDisposable
{
    // Bounds a wait for a real file-system event; the debounce itself runs on the fake clock.
    private static readonly TimeSpan EventBound = TimeSpan.FromSeconds(20);
    private static readonly PipelineReloadOptions PollOnly = new() { Debounce = TimeSpan.FromMilliseconds(500), PollInterval = TimeSpan.FromSeconds(2) };
    private static readonly PipelineReloadOptions EventsOnly = new() { Debounce = TimeSpan.FromMilliseconds(500), PollInterval = TimeSpan.Zero };
    private readonly TestRepository _repository = new();
    private readonly FakeTimeProvider _time = new();

    public void Dispose() => _repository.Dispose();

    [Fact]
    public void Poll_ValidChange_NewRequestsGetNewVersionAndInFlightChoiceKeepsOld()
    {
        File.WriteAllText(_repository.PipelinesPath, TestRepository.Pipelines());
        using var sut = CreateSut(_repository.PipelinesPath, PollOnly);
        var inFlight = sut.Current.Choose("p", "request-1");

        File.WriteAllText(_repository.PipelinesPath, TestRepository.Pipelines((Stages.Base, "b/2", 1)));
        _time.Advance(PollOnly.PollInterval);

        Assert.Equal("b/2", sut.Current.Choose("p", "request-2").Base.Id);
        Assert.Equal("b/1", inFlight.Base.Id);
    }

    [Fact]
    public async Task Watch_FileReplacedByRename_ReloadsAfterDebounce()
    {
        File.WriteAllText(_repository.PipelinesPath, TestRepository.Pipelines());
        using var sut = CreateSut(_repository.PipelinesPath, EventsOnly);
        var noticed = Notice(sut);
        var staging = Directory.CreateTempSubdirectory("muse-staging-");

        // An editor's save: write a new file elsewhere, then rename it over the old one.
        File.WriteAllText(Path.Combine(staging.FullName, "pipelines.json"), TestRepository.Pipelines((Stages.Base, "b/2", 1)));
        File.Move(Path.Combine(staging.FullName, "pipelines.json"), _repository.PipelinesPath, overwrite: true);
        staging.Delete();
        await noticed.WaitAsync(EventBound);
        var beforeDebounce = sut.Current.Choose("p", "r").Base.Id;
        _time.Advance(EventsOnly.Debounce);

        Assert.Equal("b/1", beforeDebounce);
        Assert.Equal("b/2", sut.Current.Choose("p", "r").Base.Id);
    }

    [Fact]
    public async Task Watch_ConfigMapSymlinkSwap_Reloads()
    {
        // A mounted ConfigMap: pipelines.json → ..data/pipelines.json, ..data → a timestamped folder.
        var mount = Directory.CreateDirectory(Path.Combine(_repository.Root, "config")).FullName;
        Directory.CreateDirectory(Path.Combine(mount, "..2025_1"));
        File.WriteAllText(Path.Combine(mount, "..2025_1", "pipelines.json"), TestRepository.Pipelines());
        File.CreateSymbolicLink(Path.Combine(mount, "..data"), "..2025_1");
        File.CreateSymbolicLink(Path.Combine(mount, "pipelines.json"), Path.Combine("..data", "pipelines.json"));
        using var sut = CreateSut(Path.Combine(mount, "pipelines.json"), EventsOnly);
        var noticed = Notice(sut);
        Directory.CreateDirectory(Path.Combine(mount, "..2025_2"));
        File.WriteAllText(Path.Combine(mount, "..2025_2", "pipelines.json"), TestRepository.Pipelines((Stages.Base, "b/2", 1)));
        File.CreateSymbolicLink(Path.Combine(mount, "..data_tmp"), "..2025_2");
        await noticed.WaitAsync(EventBound);
        _time.Advance(EventsOnly.Debounce);     // the new folder alone changes nothing
        var beforeSwap = sut.Current.Choose("p", "r").Base.Id;
        noticed = Notice(sut);

        // The kubelet's atomic swap: rename(2) the new symlink over ..data (File.Move would follow it to a folder).
        Assert.Equal(0, Rename(Path.Combine(mount, "..data_tmp"), Path.Combine(mount, "..data")));
        await noticed.WaitAsync(EventBound);
        _time.Advance(EventsOnly.Debounce);

        Assert.Equal("b/1", beforeSwap);
        Assert.Equal("b/2", sut.Current.Choose("p", "r").Base.Id);
    }

    [Theory]
    [InlineData("{ \"defaultPipeline\": \"p\", ", "not valid pipelines JSON")]
    [InlineData(null, "b/7")]
    public async Task Check_BadFile_IsRefusedWithReasonAndLastGoodKeepsServing(string? text, string reason)
    {
        File.WriteAllText(_repository.PipelinesPath, TestRepository.Pipelines());
        using var sut = CreateSut(_repository.PipelinesPath, PollOnly);
        var refusals = new List<string>();
        sut.Refused += refusals.Add;

        File.WriteAllText(_repository.PipelinesPath, text ?? TestRepository.Pipelines((Stages.Base, "b/7", 1)));
        var reloaded = await sut.CheckAsync();
        _time.Advance(PollOnly.PollInterval);    // checked again: still refused, not reported twice

        Assert.False(reloaded);
        Assert.Equal("b/1", sut.Current.Choose("p", "r").Base.Id);
        Assert.Contains(reason, Assert.Single(refusals), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Check_IncompatibleModels_IsRefusedByTheStartUpValidation()
    {
        File.WriteAllText(_repository.PipelinesPath, TestRepository.Pipelines());
        using var sut = CreateSut(_repository.PipelinesPath, PollOnly);
        string? refusal = null;
        sut.Refused += r => refusal = r;

        File.WriteAllText(_repository.PipelinesPath, TestRepository.Pipelines((Stages.Base, "b/1", 1), (Stages.Base, "b/9", 1)));
        var reloaded = await sut.CheckAsync();

        Assert.False(reloaded);
        Assert.Contains("codebook", refusal, StringComparison.Ordinal);
        Assert.Equal(["b/1"], sut.Current.File.Pipelines["p"].Stages[Stages.Base].Select(c => c.Id));
    }

    [Fact]
    public async Task Check_VersionNoReplicaServes_IsRefusedUntilOneDoes()
    {
        File.WriteAllText(_repository.PipelinesPath, TestRepository.Pipelines());
        var replicas = new FakeServedModels { [Stages.Base] = ["b/1"] };
        using var sut = CreateSut(_repository.PipelinesPath, PollOnly, replicas);
        string? refusal = null;
        sut.Refused += r => refusal = r;

        File.WriteAllText(_repository.PipelinesPath, TestRepository.Pipelines((Stages.Base, "b/1", 1), (Stages.Base, "b/2", 1)));
        var first = await sut.CheckAsync();
        replicas[Stages.Base] = ["b/1", "b/2"];
        var second = await sut.CheckAsync();

        Assert.False(first);
        Assert.Contains("names b/2, but no base replica serves it", refusal, StringComparison.Ordinal);
        Assert.True(second);
        Assert.Equal(2, sut.Current.File.Pipelines["p"].Stages[Stages.Base].Count);
    }

    [Fact]
    public async Task Check_UnchangedFile_DoesNotReload()
    {
        File.WriteAllText(_repository.PipelinesPath, TestRepository.Pipelines());
        using var sut = CreateSut(_repository.PipelinesPath, PollOnly);
        var before = sut.Current;

        File.WriteAllText(_repository.PipelinesPath, TestRepository.Pipelines());
        var reloaded = await sut.CheckAsync();

        Assert.False(reloaded);
        Assert.Same(before, sut.Current);
    }

    private PipelineCatalogSource CreateSut(string path, PipelineReloadOptions options, IServedModels? served = null) =>
        new(path, _repository.Root, served, options, _time, NullLogger<PipelineCatalogSource>.Instance);

    private static Task Notice(PipelineCatalogSource sut)
    {
        var noticed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        sut.ChangeNoticed += () => noticed.TrySetResult();
        return noticed.Task;
    }

    [DllImport("libc", EntryPoint = "rename", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int Rename([MarshalAs(UnmanagedType.LPUTF8Str)] string oldPath, [MarshalAs(UnmanagedType.LPUTF8Str)] string newPath);

    private sealed class FakeServedModels : Dictionary<string, string[]>, IServedModels
    {
        public Task<IReadOnlySet<string>?> ServedAsync(string stage, CancellationToken ct) =>
            Task.FromResult<IReadOnlySet<string>?>(TryGetValue(stage, out var ids) ? ids.ToHashSet(StringComparer.Ordinal) : null);
    }
}
