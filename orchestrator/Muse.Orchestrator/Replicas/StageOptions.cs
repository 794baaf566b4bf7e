using System.ComponentModel.DataAnnotations;

namespace Muse.Orchestrator.Replicas;

/// <summary>Configuration <c>Muse:Stages:&lt;stage&gt;</c>: where a stage's replicas are.</summary>
public sealed class StageEndpoints
{
    /// <summary>Replica URLs, e.g. <c>http://127.0.0.1:5001</c>. At least one per stage.</summary>
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

    /// <summary>Times a decode may move to another replica after its stream broke. Default 3.</summary>
    [Range(0, 10)]
    public int MaxDecodeFailovers { get; set; } = 3;
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
