using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Muse.Inference;

/// <summary>Readiness: healthy once the stage's models are loaded (they load at start-up, before Kestrel listens).</summary>
internal sealed class StageModelsHealthCheck(StageModels models) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(models.All.Count > 0
            ? HealthCheckResult.Healthy($"{models.All.Count} model(s) loaded.")
            : HealthCheckResult.Unhealthy("No model loaded."));
}

/// <summary>Forces <see cref="StageModels"/> to load while the host starts, so a broken repository fails start-up.</summary>
internal sealed class StageModelsLoader(StageModels models) : Microsoft.Extensions.Hosting.IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) =>
        models.All.Count > 0 ? Task.CompletedTask : throw new InvalidOperationException("No model loaded.");

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
