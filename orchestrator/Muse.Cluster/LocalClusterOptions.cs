namespace Muse.Cluster;

/// <summary>What <see cref="LocalCluster.StartAsync"/> starts and where it finds binaries and models.</summary>
public sealed class LocalClusterOptions
{
    /// <summary>
    /// Model repository passed to every process. Default: <see cref="Muse.Repository.ModelRepository.Locate"/>
    /// (environment variable <c>MUSE_MODEL_REPOSITORY</c>, else the first <c>models/repository</c> above the working
    /// directory or the application folder).
    /// </summary>
    public string? Repository { get; set; }

    /// <summary>
    /// Folder holding the service builds as <c>&lt;Project&gt;/&lt;pivot&gt;/&lt;Project&gt;.dll</c> (the
    /// <c>artifacts/bin</c> layout) or <c>&lt;Project&gt;/&lt;Project&gt;.dll</c>. Default: the environment variable
    /// <c>MUSE_BIN_ROOT</c>, else the siblings of the running application's own build folder.
    /// </summary>
    public string? BinRoot { get; set; }

    /// <summary>
    /// pipelines.json the orchestrator serves (and reloads when it changes), passed as <c>Muse:Pipelines</c>. Default:
    /// the orchestrator's own default, <c>pipelines.json</c> beside the repository folder.
    /// </summary>
    public string? Pipelines { get; set; }

    /// <summary>Replicas started per transformer stage (base and sr). Default 1; must be at least 1.</summary>
    public int TransformerReplicas { get; set; } = 1;

    /// <summary>Port of the orchestrator. Default 0: an ephemeral port chosen by the system.</summary>
    public int OrchestratorPort { get; set; }

    /// <summary>
    /// Port of the orchestrator's web listener (the page, the HTTP/JSON API, <c>Muse:Web:Port</c>); 0 = an ephemeral
    /// port. Default null: no web listener.
    /// </summary>
    public int? WebPort { get; set; }

    /// <summary>
    /// Address the orchestrator listens on. Default <c>127.0.0.1</c>. Any other address needs <see cref="ApiKeysFile"/>
    /// or <see cref="AllowAnonymous"/>, or the orchestrator refuses to start. Stages always listen on loopback.
    /// </summary>
    public string OrchestratorHost { get; set; } = "127.0.0.1";

    /// <summary>PEM certificate and key of the orchestrator's TLS (<c>Muse:Security:Tls</c>); both or neither. Default none.</summary>
    public string? TlsCertificateFile { get; set; }

    /// <inheritdoc cref="TlsCertificateFile"/>
    public string? TlsKeyFile { get; set; }

    /// <summary>API key file the orchestrator enforces (<c>Muse:Security:ApiKeysFile</c>). Default none: anonymous, loopback only.</summary>
    public string? ApiKeysFile { get; set; }

    /// <summary>Serve callers without a key on a non-loopback <see cref="OrchestratorHost"/> (<c>Muse:Security:AllowAnonymous</c>).</summary>
    public bool AllowAnonymous { get; set; }

    /// <summary>
    /// The cluster credential every stage requires and the orchestrator presents (<c>Muse:Security:InternalToken</c>,
    /// passed by environment, never on a command line). Default null: a random one for this run.
    /// </summary>
    public string? InternalToken { get; set; }

    /// <summary>
    /// How long one process may take to print its <c>MUSE_LISTENING</c> line, and then again to report SERVING on
    /// <c>grpc.health.v1</c>. Default 60 seconds.
    /// </summary>
    public TimeSpan StartTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>How a child that exits on its own is restarted, and when it is given up. Default <see cref="RestartPolicy"/>'s defaults.</summary>
    public RestartPolicy Restart { get; } = new();

    /// <summary>How long <see cref="LocalCluster.DisposeAsync"/> waits for each killed process to exit. Default 10 seconds.</summary>
    public TimeSpan StopTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// ONNX Runtime threads per operator in each stage process (<c>Muse:Inference:IntraOpThreads</c>), given by
    /// environment so that the same variable set in this process's environment (or a stage argument) wins. Default
    /// 1: the stage processes share this machine's cores, and one thread each served more images per second under
    /// load than one per core each, with no loss for a lone request (README, Performance). Null: ONNX Runtime's default,
    /// one per core in every process.
    /// </summary>
    public int? IntraOpThreads { get; set; } = 1;

    /// <summary>Extra command-line arguments for every stage process, e.g. <c>--Muse:Inference:IntraOpThreads=1</c>. Default none.</summary>
    public IList<string> StageArguments { get; } = [];

    /// <summary>Extra command-line arguments for the orchestrator process. Default none.</summary>
    public IList<string> OrchestratorArguments { get; } = [];

    /// <summary>Environment variables set for every child process, on top of this process's. Default none.</summary>
    public IDictionary<string, string> Environment { get; } = new Dictionary<string, string>(StringComparer.Ordinal);
}
