using System.ComponentModel.DataAnnotations;

namespace Muse.Orchestrator.Replicas;

/// <summary>Configuration <c>Muse:Stages:&lt;stage&gt;</c>: where a stage's replicas are.</summary>
public sealed class StageEndpoints
{
    /// <summary>
    /// Replicas, at least one per stage: URLs, e.g. <c>http://127.0.0.1:5001</c>, or <c>dns:///name:port</c>, a name
    /// re-resolved every <see cref="StageResilienceOptions.ResolveInterval"/> with one replica per address (a
    /// Kubernetes headless Service). The list itself reloads when the configuration changes.
    /// </summary>
    public List<string> Endpoints { get; set; } = [];
}

/// <summary>Configuration <c>Muse:Resilience</c>: how stage calls are retried and bounded.</summary>
public sealed class StageResilienceOptions
{
    /// <summary>Configuration section name.</summary>
    public const string Section = "Muse:Resilience";

    /// <summary>Time allowed for one attempt of a unary stage call. Default 30 s.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "01:00:00")]
    public TimeSpan AttemptTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Retries of an idempotent unary call after a transient failure (next replica each time). Default 2.</summary>
    [Range(0, 10)]
    public int MaxRetries { get; set; } = 2;

    /// <summary>First retry delay; doubles each retry, with jitter. Default 100 ms.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:01:00")]
    public TimeSpan RetryDelay { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>
    /// Times a decode may move to another replica after its stream broke. Default 3. A replica that fails before it
    /// answered any step of the decode (it was already dead) is left at once and uses up none of these.
    /// </summary>
    [Range(0, 10)]
    public int MaxDecodeFailovers { get; set; } = 3;

    /// <summary>
    /// Time a replica has to answer one decode step (and to take the conditioning) before the orchestrator gives up
    /// on it, marks it down and resumes the decode on another replica at the same step. Default 5 s: hundreds of
    /// times a step of the tiny models on a CPU (about 11 ms), so only a frozen or lost replica reaches it.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.050", "00:10:00")]
    public TimeSpan StepTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>First wait before a replica marked down is probed (grpc.health.v1 <c>ready</c>, then StageInfo); doubles after each failed probe. Default 250 ms.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:01:00")]
    public TimeSpan ProbeDelay { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>Longest wait between two probes of a replica that stays down. Default 2 s, so a restarted replica serves again within seconds.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:05:00")]
    public TimeSpan MaxProbeDelay { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Time one probe may take. Default 2 s.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:05:00")]
    public TimeSpan ProbeTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>How often <c>dns:///</c> endpoints are resolved again. Default 10 s.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "01:00:00")]
    public TimeSpan ResolveInterval { get; set; } = TimeSpan.FromSeconds(10);
}

/// <summary>Configuration <c>Muse</c> of the orchestrator process.</summary>
public sealed class OrchestratorOptions
{
    /// <summary>Configuration section name.</summary>
    public const string Section = "Muse";

    /// <summary>Model repository holding the manifests (read for shapes and compatibility). Default: located as the stages do.</summary>
    public string? Repository { get; set; }

    /// <summary>pipelines.json. Default: <c>pipelines.json</c> beside the repository folder.</summary>
    public string? Pipelines { get; set; }

    /// <summary>Stage name → replicas.</summary>
    public Dictionary<string, StageEndpoints> Stages { get; set; } = [];
}
