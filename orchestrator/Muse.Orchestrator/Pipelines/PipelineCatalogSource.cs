using System.ComponentModel.DataAnnotations;
using System.Globalization;
using System.Security.Cryptography;

namespace Muse.Orchestrator.Pipelines;

/// <summary>Configuration <c>Muse:PipelineReload</c>: how the orchestrator notices a changed pipelines.json.</summary>
public sealed class PipelineReloadOptions
{
    /// <summary>Configuration section name.</summary>
    public const string Section = "Muse:PipelineReload";

    /// <summary>
    /// Quiet time after the last file-system event before the file is read, so an editor's or a ConfigMap's burst
    /// of events (write, rename, symlink swap) becomes one reload. Default 500 ms.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:01:00")]
    public TimeSpan Debounce { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>
    /// How often the file is read anyway, for file systems that raise no events (network and some container
    /// mounts). Default 5 s; zero turns polling off.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "01:00:00")]
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(5);
}

/// <summary>What the stage replicas serve, as far as the orchestrator can tell.</summary>
public interface IServedModels
{
    /// <summary>
    /// The model ids (<c>name/version</c>) that reachable replicas of <paramref name="stage"/> report serving
    /// (StageInfo), or null when no replica of the stage answered, so nothing is known.
    /// </summary>
    Task<IReadOnlySet<string>?> ServedAsync(string stage, CancellationToken ct);
}

/// <summary>
/// The pipeline catalog being served, reloaded when pipelines.json changes. New requests read <see cref="Current"/>
/// once, at admission, and keep the <see cref="PipelineChoice"/> they got, so a request in flight finishes on the
/// versions it started with. A changed file is read after <see cref="PipelineReloadOptions.Debounce"/> of quiet
/// (file-system events on the file's folder, so a file replaced by rename and a Kubernetes ConfigMap's
/// <c>..data</c> symlink swap count too) or at the next poll. It replaces the catalog only when it parses, every
/// model it names is in the repository, every combination of candidates is compatible
/// (<see cref="PipelineCatalog.Parse"/>, the start-up checks), and every version it adds is listed by the replicas
/// of its stage (<see cref="IServedModels"/>; not checked while no replica of that stage answers). Otherwise the
/// reason is logged and the last good catalog keeps serving.
/// </summary>
/// <remarks>Singleton; thread-safe; owns its file watcher and timers.</remarks>
public sealed class PipelineCatalogSource : IDisposable
{
    private readonly string _repository;
    private readonly IServedModels? _served;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _checking = new(1, 1);
    private readonly CancellationTokenSource _stopping = new();
    private readonly ITimer _debounce;
    private readonly ITimer? _poll;
    private readonly FileSystemWatcher? _watcher;
    private readonly TimeSpan _debounceTime;
    private PipelineCatalog _current;
    private string _servingHash;
    private (string Hash, string Reason)? _refused;

    /// <summary>
    /// Loads <paramref name="path"/> (failing as <see cref="PipelineCatalog.Load"/> does: a catalog that cannot work
    /// stops the process at start-up) and starts watching it.
    /// </summary>
    /// <param name="path">pipelines.json; may be a symlink.</param>
    /// <param name="repository">The model repository holding the manifests.</param>
    /// <param name="served">Checks versions a reload adds against the replicas; null = not checked.</param>
    /// <param name="options">Debounce and polling.</param>
    /// <param name="time">Clock of the debounce and poll timers.</param>
    /// <param name="logger">Where reloads and refusals are logged.</param>
    /// <exception cref="InvalidDataException">The file at start-up cannot work.</exception>
    public PipelineCatalogSource(
        string path, string repository, IServedModels? served, PipelineReloadOptions options, TimeProvider time, ILogger<PipelineCatalogSource> logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(time);
        Path = System.IO.Path.GetFullPath(path);
        _repository = repository;
        _served = served;
        _logger = logger;
        _debounceTime = options.Debounce;

        var bytes = File.ReadAllBytes(Path);
        _current = PipelineCatalog.Parse(bytes, Path, repository);
        _servingHash = Convert.ToHexString(SHA256.HashData(bytes));
        OrchestratorLog.PipelinesLoaded(logger, Path, string.Join(", ", _current.File.Pipelines.Keys), _current.DefaultPipeline);

        _debounce = time.CreateTimer(_ => _ = CheckAsync(), null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        if (options.PollInterval > TimeSpan.Zero)
        {
            _poll = time.CreateTimer(_ => _ = CheckAsync(), null, options.PollInterval, options.PollInterval);
        }

        _watcher = Watch(System.IO.Path.GetDirectoryName(Path)!);
    }

    /// <summary>The file being served (full path).</summary>
    public string Path { get; }

    /// <summary>The catalog new requests use. Read it once per request.</summary>
    public PipelineCatalog Current => Volatile.Read(ref _current);

    /// <summary>Raised after a reload replaced <see cref="Current"/>.</summary>
    public event Action<PipelineCatalog>? Reloaded;

    /// <summary>Raised when a changed file was refused, with the reason (also logged).</summary>
    public event Action<string>? Refused;

    /// <summary>Raised when a file-system event scheduled a check (after the debounce).</summary>
    internal event Action? ChangeNoticed;

    /// <summary>
    /// Reads the file now and reloads it when it changed and can work. Returns true when <see cref="Current"/> was
    /// replaced. Checks never overlap.
    /// </summary>
    public async Task<bool> CheckAsync(CancellationToken ct = default)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, _stopping.Token);
        try
        {
            await _checking.WaitAsync(linked.Token);
        }
        catch (OperationCanceledException)
        {
            return false;
        }

        try
        {
            return await CheckOnceAsync(linked.Token);
        }
        catch (OperationCanceledException)
        {
            return false;
        }
        finally
        {
            _checking.Release();
        }
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        _stopping.Cancel();
        _watcher?.Dispose();
        _debounce.Dispose();
        _poll?.Dispose();
        _stopping.Dispose();
    }

    private async Task<bool> CheckOnceAsync(CancellationToken ct)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(Path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Mid-swap (a ConfigMap's symlinks) the file can be briefly missing; the next event or poll reads it.
            Refuse("", $"{Path} cannot be read: {ex.Message}");
            return false;
        }

        var hash = Convert.ToHexString(SHA256.HashData(bytes));
        if (hash == _servingHash)
        {
            _refused = null;
            return false;
        }

        PipelineCatalog next;
        try
        {
            next = PipelineCatalog.Parse(bytes, Path, _repository);
            await CheckServedAsync(next, ct);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // A refused file is checked again at every event and poll (a replica may come up with the version), but
            // its reason is logged once.
            Refuse(hash, ex.Message);
            return false;
        }

        var previous = Current;
        Volatile.Write(ref _current, next);
        _servingHash = hash;
        _refused = null;
        OrchestratorLog.PipelinesReloaded(_logger, Path, Describe(next), string.Join(", ", next.Models.Keys.Except(previous.Models.Keys).Order(StringComparer.Ordinal)));
        Reloaded?.Invoke(next);
        return true;
    }

    // Every version the new catalog adds must be served by some replica of its stage; versions already served are
    // not re-checked, so a weight change is never refused because a replica is down.
    private async Task CheckServedAsync(PipelineCatalog next, CancellationToken ct)
    {
        if (_served is null)
        {
            return;
        }

        var added = next.Models.Values.Where(m => !Current.Models.ContainsKey(m.Id)).GroupBy(m => m.Stage, StringComparer.Ordinal);
        foreach (var stage in added)
        {
            var served = await _served.ServedAsync(stage.Key, ct);
            if (served is null)
            {
                OrchestratorLog.PipelineVersionsUnconfirmed(_logger, Path, stage.Key, string.Join(", ", stage.Select(m => m.Id)));
                continue;
            }

            var missing = stage.FirstOrDefault(m => !served.Contains(m.Id));
            if (missing is not null)
            {
                throw new InvalidDataException(
                    $"{Path} names {missing.Id}, but no {stage.Key} replica serves it (they serve: {string.Join(", ", served.Order(StringComparer.Ordinal))}). Start a replica with that version first.");
            }
        }
    }

    private void Refuse(string hash, string reason)
    {
        if (_refused is { } last && last.Hash == hash && last.Reason == reason)
        {
            return;
        }

        _refused = (hash, reason);
        OrchestratorLog.PipelinesRefused(_logger, Path, reason);
        Refused?.Invoke(reason);
    }

    private FileSystemWatcher? Watch(string folder)
    {
        // The folder, not the file: an editor's save-by-rename and a ConfigMap's `..data` symlink swap never write
        // to the file itself. Any event in the folder schedules one check; unchanged content is ignored there.
        try
        {
            var watcher = new FileSystemWatcher(folder)
            {
                NotifyFilter = NotifyFilters.FileName | NotifyFilters.DirectoryName | NotifyFilters.LastWrite | NotifyFilters.Size | NotifyFilters.CreationTime,
                IncludeSubdirectories = false,
            };
            watcher.Changed += (_, _) => Schedule();
            watcher.Created += (_, _) => Schedule();
            watcher.Deleted += (_, _) => Schedule();
            watcher.Renamed += (_, _) => Schedule();
            watcher.Error += (_, _) => Schedule();
            watcher.EnableRaisingEvents = true;
            return watcher;
        }
        catch (Exception ex) when (ex is IOException or ArgumentException or PlatformNotSupportedException or UnauthorizedAccessException)
        {
            // Out of inotify watches, or a file system without events: polling still reloads.
            OrchestratorLog.PipelinesNotWatched(_logger, folder, ex.Message);
            return null;
        }
    }

    private void Schedule()
    {
        // Every event pushes the check back: it runs once the burst is over.
        try
        {
            _debounce.Change(_debounceTime, Timeout.InfiniteTimeSpan);
        }
        catch (ObjectDisposedException)
        {
            return;
        }

        ChangeNoticed?.Invoke();
    }

    private static string Describe(PipelineCatalog catalog) => string.Join("; ", catalog.File.Pipelines.Select(p =>
        $"{p.Key}: " + string.Join(", ", p.Value.Stages.SelectMany(s => s.Value.Select(c => $"{c.Id}×{c.Weight.ToString("0.###", CultureInfo.InvariantCulture)}")))));
}
