namespace Muse.Orchestrator.Replicas;

/// <summary>Names of the registered Polly resilience pipelines, one per kind of stage call.</summary>
public static class StagePipelines
{
    /// <summary>Idempotent unary calls: Encode, Tokenize, Detokenize, GetStageInfo.</summary>
    public const string Unary = "muse-stage-unary";
}
