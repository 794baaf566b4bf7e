using System.Runtime.ExceptionServices;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Muse.Repository;
using StageNames = Muse.Repository.Stages;

namespace Muse.Cluster;

/// <summary>
/// A whole Muse deployment on this machine: every stage as a separate child process on an ephemeral loopback port
/// (text encoder, image tokenizer, base and sr transformer replicas), then the orchestrator wired to them.
/// </summary>
/// <remarks>
/// Owns the child processes: <see cref="DisposeAsync"/> kills every process tree and waits for them to exit. Children
/// still alive when this process exits are killed from an <see cref="AppDomain.ProcessExit"/> handler.
/// </remarks>
public sealed class LocalCluster : IAsyncDisposable
{
    private readonly TimeSpan _stopTimeout;
    private readonly ILogger _logger;
    private int _disposed;

    private LocalCluster(string repository, IReadOnlyList<ClusterProcess> stages, ClusterProcess orchestrator, TimeSpan stopTimeout, ILogger logger)
    {
        Repository = repository;
        Stages = stages;
        Orchestrator = orchestrator;
        _stopTimeout = stopTimeout;
        _logger = logger;
    }

    /// <summary>The public <c>muse.v1.Muse</c> endpoint, e.g. <c>http://127.0.0.1:45123</c>.</summary>
    public Uri OrchestratorUrl => Orchestrator.Url;

    /// <summary>The orchestrator process.</summary>
    public ClusterProcess Orchestrator { get; }

    /// <summary>Every stage process in start order: text encoder, image tokenizer, base replicas, sr replicas.</summary>
    public IReadOnlyList<ClusterProcess> Stages { get; }

    /// <summary>The model repository every process was given (absolute path).</summary>
    public string Repository { get; }

    /// <summary>The replicas of one stage (<see cref="StageNames"/>), by replica index.</summary>
    public IReadOnlyList<ClusterProcess> Replicas(string stage) => Stages.Where(p => p.Stage == stage).ToList();

    /// <summary>
    /// Starts the stage processes (concurrently), waits until each is SERVING on <c>grpc.health.v1</c>, then starts
    /// the orchestrator with their addresses and waits for it too.
    /// </summary>
    /// <param name="options">What to start; default <see cref="LocalClusterOptions"/>.</param>
    /// <param name="logger">Receives lifecycle events, and every child output line at Trace level. Default: none.</param>
    /// <param name="cancellationToken">Stops the start-up; whatever was started is killed.</param>
    /// <returns>The running cluster, owned by the caller, who must dispose it.</returns>
    /// <exception cref="InvalidOperationException">A stage has no model, or a process exited before it was ready.</exception>
    /// <exception cref="TimeoutException">A process was not ready within <see cref="LocalClusterOptions.StartTimeout"/>.</exception>
    /// <exception cref="FileNotFoundException">A service build is missing (see <see cref="ServiceBinaries.Resolve"/>).</exception>
    public static async Task<LocalCluster> StartAsync(
        LocalClusterOptions? options = null, ILogger? logger = null, CancellationToken cancellationToken = default)
    {
        options ??= new LocalClusterOptions();
        logger ??= NullLogger.Instance;
        ArgumentOutOfRangeException.ThrowIfLessThan(options.TransformerReplicas, 1, nameof(options.TransformerReplicas));
        ArgumentOutOfRangeException.ThrowIfNegative(options.OrchestratorPort, nameof(options.OrchestratorPort));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(options.OrchestratorPort, 65535, nameof(options.OrchestratorPort));

        var repository = ModelRepository.Locate(options.Repository);
        var manifests = ModelRepository.Scan(repository).Select(m => m.Manifest).ToList();
        var launches = PlanStages(manifests, repository, options.TransformerReplicas);
        var host = DotnetHost();
        var binaries = new[] { ServiceBinaries.TextEncoder, ServiceBinaries.ImageTokenizer, ServiceBinaries.Transformer, ServiceBinaries.Orchestrator }
            .ToDictionary(p => p, p => ServiceBinaries.Resolve(p, options.BinRoot), StringComparer.Ordinal);
        LocalClusterLog.Starting(logger, repository, manifests.Count);

        var stages = await StartStagesAsync(launches, host, binaries, options, logger, cancellationToken);
        try
        {
            var orchestratorArguments = OrchestratorArguments(repository, options.OrchestratorPort, stages)
                .Concat(options.Pipelines is null ? [] : [$"--Muse:Pipelines={Path.GetFullPath(options.Pipelines)}"])
                .Concat(options.OrchestratorArguments);
            var orchestrator = await ClusterProcess.StartAsync(
                "orchestrator",
                0,
                [],
                host,
                orchestratorArguments.Prepend(binaries[ServiceBinaries.Orchestrator]),
                options.Environment,
                options.StartTimeout,
                TimeProvider.System,
                logger,
                cancellationToken);
            return new LocalCluster(repository, stages, orchestrator, options.StopTimeout, logger);
        }
        catch
        {
            await Task.WhenAll(stages.Select(s => s.DisposeAsync().AsTask()));
            throw;
        }
    }

    /// <summary>Kills every child process this process has started and not disposed, without waiting.</summary>
    /// <remarks>For process-exit and Ctrl-C handlers, where there is no time to await <see cref="DisposeAsync"/>.</remarks>
    public static void KillAllChildren() => ChildProcesses.KillAll();

    /// <summary>Kills the orchestrator, then every stage process tree, and waits for them to exit.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        // The orchestrator first, so it does not see its stages vanish and start failing over.
        await Orchestrator.StopAsync(_stopTimeout);
        await Orchestrator.DisposeAsync();
        await Task.WhenAll(Stages.Select(async s =>
        {
            await s.StopAsync(_stopTimeout);
            await s.DisposeAsync();
        }));
        LocalClusterLog.Stopped(_logger);
    }

    /// <summary>One stage process to start: its project and its arguments after the dll path.</summary>
    internal sealed record StageLaunch(string Stage, int Replica, string Project, IReadOnlyList<string> Models, IReadOnlyList<string> Arguments);

    /// <summary>
    /// The stage processes for a repository: one text encoder, one image tokenizer, <paramref name="replicas"/> base and
    /// sr transformers, each told to load every model of its stage.
    /// </summary>
    internal static IReadOnlyList<StageLaunch> PlanStages(IReadOnlyList<ModelManifest> manifests, string repository, int replicas)
    {
        (string Stage, string Project, int Count)[] layout =
        [
            (StageNames.TextEncoder, ServiceBinaries.TextEncoder, 1),
            (StageNames.ImageTokenizer, ServiceBinaries.ImageTokenizer, 1),
            (StageNames.Base, ServiceBinaries.Transformer, replicas),
            (StageNames.SuperResolution, ServiceBinaries.Transformer, replicas),
        ];
        var launches = new List<StageLaunch>();
        foreach (var (stage, project, count) in layout)
        {
            var models = manifests.Where(m => m.Stage == stage).Select(m => m.Id).ToList();
            if (models.Count == 0)
            {
                throw new InvalidOperationException($"The model repository {repository} has no '{stage}' model.");
            }

            string[] arguments =
            [
                "--urls", "http://127.0.0.1:0",
                $"--Muse:Inference:Repository={repository}",
                .. models.Select((id, i) => $"--Muse:Inference:Models:{i}={id}"),
            ];
            for (var replica = 0; replica < count; replica++)
            {
                launches.Add(new StageLaunch(stage, replica, project, models, arguments));
            }
        }

        return launches;
    }

    /// <summary>The orchestrator's arguments after the dll path: its port, the repository and every stage endpoint.</summary>
    internal static IReadOnlyList<string> OrchestratorArguments(string repository, int port, IEnumerable<ClusterProcess> stages) =>
        OrchestratorArguments(repository, port, stages.Select(s => (s.Stage, s.Url)));

    internal static IReadOnlyList<string> OrchestratorArguments(string repository, int port, IEnumerable<(string Stage, Uri Url)> stages)
    {
        var arguments = new List<string> { "--urls", $"http://127.0.0.1:{port}", $"--Muse:Repository={repository}" };
        foreach (var group in stages.GroupBy(s => s.Stage, StringComparer.Ordinal))
        {
            arguments.AddRange(group.Select((s, i) => $"--Muse:Stages:{group.Key}:Endpoints:{i}={ListeningLine.Format(s.Url)}"));
        }

        return arguments;
    }

    /// <summary>The <c>dotnet</c> host that runs the service dlls: the SDK's, this process's, or the one on PATH.</summary>
    internal static string DotnetHost()
    {
        var fromSdk = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH");
        if (!string.IsNullOrEmpty(fromSdk) && File.Exists(fromSdk))
        {
            return fromSdk;
        }

        var own = Environment.ProcessPath;
        if (own is not null && Path.GetFileNameWithoutExtension(own) == "dotnet")
        {
            return own;
        }

        var root = Environment.GetEnvironmentVariable("DOTNET_ROOT");
        var inRoot = string.IsNullOrEmpty(root) ? null : Path.Combine(root, OperatingSystem.IsWindows() ? "dotnet.exe" : "dotnet");
        return inRoot is not null && File.Exists(inRoot) ? inRoot : "dotnet";
    }

    private static async Task<IReadOnlyList<ClusterProcess>> StartStagesAsync(
        IReadOnlyList<StageLaunch> launches,
        string host,
        Dictionary<string, string> binaries,
        LocalClusterOptions options,
        ILogger logger,
        CancellationToken cancellationToken)
    {
        using var startup = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var starts = launches.Select(async launch =>
        {
            try
            {
                return await ClusterProcess.StartAsync(
                    launch.Stage,
                    launch.Replica,
                    launch.Models,
                    host,
                    [binaries[launch.Project], .. launch.Arguments, .. options.StageArguments],
                    options.Environment,
                    options.StartTimeout,
                    TimeProvider.System,
                    logger,
                    startup.Token);
            }
            catch
            {
                // One failed stage fails the cluster: stop waiting for the others.
                await startup.CancelAsync();
                throw;
            }
        }).ToList();

        try
        {
            return await Task.WhenAll(starts);
        }
        catch
        {
            await Task.WhenAll(starts.Where(t => t.IsCompletedSuccessfully).Select(t => t.Result.DisposeAsync().AsTask()));
            // Report the stage that failed, not a sibling whose start-up was cancelled because of it.
            var failure = starts
                .Where(t => t.IsFaulted)
                .Select(t => t.Exception!.InnerException!)
                .FirstOrDefault(e => e is not OperationCanceledException);
            if (failure is not null)
            {
                ExceptionDispatchInfo.Throw(failure);
            }

            throw;
        }
    }
}
