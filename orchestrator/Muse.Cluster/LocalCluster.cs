using System.Runtime.ExceptionServices;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
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
/// Once up, every child is supervised (<see cref="SupervisedProcess"/>, <see cref="LocalClusterOptions.Restart"/>): one
/// that exits is started again on the same address after a backoff, while the rest keep serving; see
/// <see cref="WaitForFailureAsync"/> for when that is no longer enough. Owns the child processes:
/// <see cref="DisposeAsync"/> ends supervision, kills every process tree and waits for them to exit. Children still
/// alive when this process exits are killed from an <see cref="AppDomain.ProcessExit"/> handler.
/// </remarks>
public sealed class LocalCluster : IAsyncDisposable
{
    private readonly SupervisedProcess _orchestrator;
    private readonly IReadOnlyList<SupervisedProcess> _stages;
    private readonly TimeSpan _stopTimeout;
    private readonly ILogger _logger;
    private int _disposed;

    internal LocalCluster(
        string repository, IReadOnlyList<SupervisedProcess> stages, SupervisedProcess orchestrator, TimeSpan stopTimeout, string internalToken,
        ILogger logger, Uri? webUrl = null)
    {
        Repository = repository;
        InternalToken = internalToken;
        WebUrl = webUrl;
        _stages = stages;
        _orchestrator = orchestrator;
        Processes = [.. stages, orchestrator];
        _stopTimeout = stopTimeout;
        _logger = logger;
    }

    /// <summary>The public <c>muse.v1.Muse</c> endpoint, e.g. <c>http://127.0.0.1:45123</c>; a restarted orchestrator keeps it.</summary>
    public Uri OrchestratorUrl => _orchestrator.Url;

    /// <summary>
    /// The orchestrator's web listener (page, HTTP/JSON API, OpenAPI), e.g. <c>http://127.0.0.1:45124</c>, when
    /// <see cref="LocalClusterOptions.WebPort"/> was set; a restarted orchestrator keeps it.
    /// </summary>
    public Uri? WebUrl { get; }

    /// <summary>The orchestrator process now (a new one after each restart).</summary>
    public ClusterProcess Orchestrator => _orchestrator.Current;

    /// <summary>Every stage process now, in start order: text encoder, image tokenizer, base replicas, sr replicas.</summary>
    public IReadOnlyList<ClusterProcess> Stages => _stages.Select(s => s.Current).ToList();

    /// <summary>Every child with its supervision (state, restarts, current process): the stages in start order, then the orchestrator.</summary>
    public IReadOnlyList<SupervisedProcess> Processes { get; }

    /// <summary>The cluster credential of this run: stages refuse calls without it (health checks excepted).</summary>
    public string InternalToken { get; }

    /// <summary>The model repository every process was given (absolute path).</summary>
    public string Repository { get; }

    /// <summary>The replicas of one stage (<see cref="StageNames"/>) now, by replica index.</summary>
    public IReadOnlyList<ClusterProcess> Replicas(string stage) => Stages.Where(p => p.Stage == stage).ToList();

    /// <summary>
    /// Completes, with the reason, once the cluster cannot serve any more however long it waits: the orchestrator, or
    /// every replica of one stage, has been given up after <see cref="RestartPolicy.MaxRestarts"/> restarts in a row.
    /// A child that dies and comes back does not complete it.
    /// </summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired first.</exception>
    public async Task<string> WaitForFailureAsync(CancellationToken cancellationToken = default)
    {
        var watches = _stages
            .GroupBy(s => s.Stage, StringComparer.Ordinal)
            .Select(g => AllGaveUpAsync([.. g], g.Count() == 1 ? $"{g.Key} was given up" : $"every {g.Key} replica was given up"))
            .Prepend(AllGaveUpAsync([_orchestrator], "the orchestrator was given up"))
            .ToList();
        return await await Task.WhenAny(watches);

        async Task<string> AllGaveUpAsync(IReadOnlyList<SupervisedProcess> group, string reason)
        {
            foreach (var process in group)
            {
                await process.WaitUntilAsync(p => p.State == SupervisedState.GaveUp, cancellationToken);
            }

            return $"{reason}: it kept failing to restart (see the log for its last failure)";
        }
    }

    /// <summary>
    /// Starts the stage processes (concurrently), waits until each is SERVING on <c>grpc.health.v1</c>, then starts
    /// the orchestrator with their addresses and waits for it too; from then on every child is supervised.
    /// </summary>
    /// <remarks>A child that fails during start-up fails the start; restarts begin once the whole cluster is up.</remarks>
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
        if (options.WebPort is { } webPort)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(webPort, nameof(options.WebPort));
            ArgumentOutOfRangeException.ThrowIfGreaterThan(webPort, 65535, nameof(options.WebPort));
        }

        options.Restart.Validate();

        var repository = ModelRepository.Locate(options.Repository);
        var manifests = ModelRepository.Scan(repository).Select(m => m.Manifest).ToList();
        var launches = PlanStages(manifests, repository, options.TransformerReplicas);
        var host = DotnetHost();
        // One credential per run, by environment (a command line is visible to every local user).
        var internalToken = options.InternalToken ?? Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
        KeyValuePair<string, string>[] environment = [.. options.Environment, new(InternalTokenVariable, internalToken)];
        var stageEnvironment = StageEnvironment(environment, options.IntraOpThreads, Environment.GetEnvironmentVariable(IntraOpThreadsVariable));
        var certificate = LoadCertificate(options);
        var binaries = new[] { ServiceBinaries.TextEncoder, ServiceBinaries.ImageTokenizer, ServiceBinaries.Transformer, ServiceBinaries.Orchestrator }
            .ToDictionary(p => p, p => ServiceBinaries.Resolve(p, options.BinRoot), StringComparer.Ordinal);
        LocalClusterLog.Starting(logger, repository, manifests.Count);

        ChildLaunch[] stageLaunches =
        [
            .. launches.Select(l => new ChildLaunch(
                l.Stage,
                l.Replica,
                l.Models,
                host,
                [binaries[l.Project], .. l.Arguments, .. options.StageArguments],
                stageEnvironment)),
        ];
        var stages = await StartStagesAsync(stageLaunches, options, logger, cancellationToken);
        try
        {
            var orchestratorLaunch = new ChildLaunch(
                "orchestrator",
                0,
                [],
                host,
                [
                    binaries[ServiceBinaries.Orchestrator],
                    .. OrchestratorArguments(repository, options.OrchestratorPort, stages, options.OrchestratorHost),
                    .. PipelinesArgument(options),
                    .. SecurityArguments(options),
                    .. WebArgument(options),
                    .. options.OrchestratorArguments,
                ],
                environment) { ServerCertificate = certificate };
            var orchestrator = await ClusterProcess.StartAsync(orchestratorLaunch, options.StartTimeout, TimeProvider.System, logger, cancellationToken);
            Uri? webUrl = null;
            if (options.WebPort is not null)
            {
                webUrl = await WaitForWebUrlAsync(orchestrator, options.StartTimeout, cancellationToken);
                // A restart asks for the port the first start got, as it does for the gRPC address.
                orchestratorLaunch = orchestratorLaunch with
                {
                    Arguments = [.. orchestratorLaunch.Arguments.Select(a => a.StartsWith(WebPortOption, StringComparison.Ordinal) ? WebPortOption + webUrl.Port : a)],
                };
            }

            // Real time: restart backoff is about processes that really died.
            return new LocalCluster(
                repository,
                [.. stages.Select((s, i) => SupervisedProcess.Supervise(s, stageLaunches[i], options.Restart, options.StartTimeout, TimeProvider.System, logger))],
                SupervisedProcess.Supervise(orchestrator, orchestratorLaunch, options.Restart, options.StartTimeout, TimeProvider.System, logger),
                options.StopTimeout,
                internalToken,
                logger,
                webUrl);
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

    /// <summary>Ends supervision, kills the orchestrator, then every stage process tree, and waits for them to exit.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        // No restarts from here on, or a stage killed below would come back. Then the orchestrator first, so it does
        // not see its stages vanish and start failing over.
        await Task.WhenAll(Processes.Select(p => p.EndSupervisionAsync()));
        await _orchestrator.StopAsync(_stopTimeout);
        await _orchestrator.DisposeAsync();
        await Task.WhenAll(_stages.Select(async s =>
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
    /// sr transformers, each told to load every model of its stage. A repository without sr models (aMUSEd decodes at
    /// full size in its base stage) gets no sr processes; every other stage is required.
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
            if (models.Count == 0 && stage == StageNames.SuperResolution)
            {
                continue;
            }

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
    // --pipelines: the orchestrator serves that file and reloads it when it changes.
    private static string[] PipelinesArgument(LocalClusterOptions options) =>
        options.Pipelines is null ? [] : [$"--Muse:Pipelines={Path.GetFullPath(options.Pipelines)}"];

    private const string WebPortOption = "--Muse:Web:Port=";

    private static string[] WebArgument(LocalClusterOptions options) =>
        options.WebPort is { } port ? [WebPortOption + port.ToString(System.Globalization.CultureInfo.InvariantCulture)] : [];

    // The orchestrator prints MUSE_WEB right after MUSE_LISTENING, so it is there by the time it is SERVING.
    private static async Task<Uri> WaitForWebUrlAsync(ClusterProcess orchestrator, TimeSpan timeout, CancellationToken cancellationToken)
    {
        if (orchestrator.WebUrl is { } seen)
        {
            return seen;
        }

        try
        {
            var line = await orchestrator.WaitForOutputAsync(l => ListeningLine.TryParse(l, ListeningLine.WebMarker, out _), cancellationToken)
                .WaitAsync(timeout, TimeProvider.System, cancellationToken);
            return ListeningLine.TryParse(line, ListeningLine.WebMarker, out var url) ? url : throw new InvalidOperationException(line);
        }
        catch (Exception ex)
        {
            await orchestrator.DisposeAsync();
            if (ex is TimeoutException)
            {
                throw new TimeoutException($"The orchestrator printed no '{ListeningLine.WebMarker} <url>' line within {timeout.TotalSeconds:0} s.", ex);
            }

            throw;
        }
    }

    internal static IReadOnlyList<string> OrchestratorArguments(string repository, int port, IEnumerable<ClusterProcess> stages, string host = "127.0.0.1") =>
        OrchestratorArguments(repository, port, stages.Select(s => (s.Stage, s.Url)), host);

    internal static IReadOnlyList<string> OrchestratorArguments(
        string repository, int port, IEnumerable<(string Stage, Uri Url)> stages, string host = "127.0.0.1")
    {
        var address = host.Contains(':', StringComparison.Ordinal) && !host.StartsWith('[') ? $"[{host}]" : host;
        var arguments = new List<string> { "--urls", $"http://{address}:{port}", $"--Muse:Repository={repository}" };
        foreach (var group in stages.GroupBy(s => s.Stage, StringComparer.Ordinal))
        {
            arguments.AddRange(group.Select((s, i) => $"--Muse:Stages:{group.Key}:Endpoints:{i}={ListeningLine.Format(s.Url)}"));
        }

        return arguments;
    }

    /// <summary>
    /// The stage processes' environment: <paramref name="environment"/> plus <see cref="LocalClusterOptions.IntraOpThreads"/>,
    /// unless the variable is already given (in <paramref name="environment"/> or as <paramref name="inherited"/>, this
    /// process's own value, which the children inherit).
    /// </summary>
    internal static KeyValuePair<string, string>[] StageEnvironment(
        KeyValuePair<string, string>[] environment, int? intraOpThreads, string? inherited) =>
        intraOpThreads is { } threads && inherited is null && !environment.Any(e => e.Key == IntraOpThreadsVariable)
            ? [.. environment, new(IntraOpThreadsVariable, threads.ToString(System.Globalization.CultureInfo.InvariantCulture))]
            : environment;

    /// <summary>Environment variable of <see cref="LocalClusterOptions.IntraOpThreads"/>.</summary>
    internal const string IntraOpThreadsVariable = "Muse__Inference__IntraOpThreads";

    /// <summary>Environment variable that carries the cluster credential to every child.</summary>
    internal const string InternalTokenVariable = "Muse__Security__InternalToken";

    // TLS, keys and anonymous access of the orchestrator; the orchestrator itself checks the files and refuses to start
    // when they are unusable, with the reason on its output.
    private static string[] SecurityArguments(LocalClusterOptions options) =>
    [
        .. options.TlsCertificateFile is null ? [] : new[] { $"--Muse:Security:Tls:CertificateFile={Path.GetFullPath(options.TlsCertificateFile)}" },
        .. options.TlsKeyFile is null ? [] : new[] { $"--Muse:Security:Tls:KeyFile={Path.GetFullPath(options.TlsKeyFile)}" },
        .. options.ApiKeysFile is null ? [] : new[] { $"--Muse:Security:ApiKeysFile={Path.GetFullPath(options.ApiKeysFile)}" },
        .. options.AllowAnonymous ? new[] { "--Muse:Security:AllowAnonymous=true" } : [],
    ];

    // The orchestrator's certificate, so the launcher's health checks can trust exactly it.
    private static X509Certificate2? LoadCertificate(LocalClusterOptions options)
    {
        if (options.TlsCertificateFile is null && options.TlsKeyFile is null)
        {
            return null;
        }

        if (options.TlsCertificateFile is null || options.TlsKeyFile is null)
        {
            throw new ArgumentException("TLS needs both a certificate and a key (PEM files).");
        }

        return X509Certificate2.CreateFromPem(File.ReadAllText(options.TlsCertificateFile));
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
        IReadOnlyList<ChildLaunch> launches, LocalClusterOptions options, ILogger logger, CancellationToken cancellationToken)
    {
        using var startup = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var starts = launches.Select(async launch =>
        {
            try
            {
                return await ClusterProcess.StartAsync(launch, options.StartTimeout, TimeProvider.System, logger, startup.Token);
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
