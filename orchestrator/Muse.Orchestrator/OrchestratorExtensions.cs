using Grpc.Core;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Muse.Imaging;
using Muse.Orchestrator.Generation;
using Muse.Orchestrator.Pipelines;
using Muse.Orchestrator.Replicas;
using Muse.Repository;
using Polly;
using Polly.Retry;
using Polly.Telemetry;
using Polly.Timeout;

namespace Muse.Orchestrator;

/// <summary>Registration of the orchestrator's parts.</summary>
public static class OrchestratorExtensions
{
    /// <summary>
    /// Pipelines (pipelines.json + manifests, checked at start-up, reloaded when the file changes), per-version
    /// metrics and the request runner.
    /// </summary>
    public static IHostApplicationBuilder AddMuseOrchestrator(this IHostApplicationBuilder builder)
    {
        builder.Services.Configure<OrchestratorOptions>(builder.Configuration.GetSection(OrchestratorOptions.Section));
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.AddOptions<PipelineReloadOptions>().Bind(builder.Configuration.GetSection(PipelineReloadOptions.Section)).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.TryAddSingleton<IServedModels>(services => services.GetService<StageClients>() is { } clients
            ? new ReplicaServedModels(clients, services.GetRequiredService<IReplicaProbe>(), services.GetRequiredService<IOptions<StageResilienceOptions>>())
            : NoServedModels.Instance);
        builder.Services.AddSingleton(services =>
        {
            var options = services.GetRequiredService<IOptions<OrchestratorOptions>>().Value;
            var repository = ModelRepository.Locate(options.Repository);
            var path = options.Pipelines ?? Path.Combine(Path.GetDirectoryName(repository)!, "pipelines.json");
            return new PipelineCatalogSource(
                path,
                repository,
                services.GetRequiredService<IServedModels>(),
                services.GetRequiredService<IOptions<PipelineReloadOptions>>().Value,
                services.GetRequiredService<TimeProvider>(),
                services.GetRequiredService<ILogger<PipelineCatalogSource>>());
        });
        builder.Services.AddMetrics();
        builder.Services.AddSingleton<ModelMetrics>();
        builder.Services.AddSingleton<StageRunner>();
        builder.Services.AddSingleton<Generator>();
        // Editing reads untrusted images and masks through the same guard as the image-tokenizer stage.
        builder.Services.AddOptions<UploadOptions>()
            .Bind(builder.Configuration.GetSection(UploadOptions.Section))
            .ValidateDataAnnotations()
            .ValidateOnStart();
        builder.Services.AddSingleton(services => new ImageUploadGuard(
            services.GetRequiredService<IOptions<UploadOptions>>().Value, services.GetRequiredService<ILogger<ImageUploadGuard>>()));
        builder.Services.AddSingleton<Editor>();
        builder.Services.AddOptions<QueueOptions>().Bind(builder.Configuration.GetSection(QueueOptions.Section)).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddSingleton<AdmissionController>();
        // Resolve the catalog while starting, so a pipeline that cannot work stops the process before it serves (and
        // the file is watched from then on); the admission gauges exist from the first scrape.
        builder.Services.AddHostedService<PipelineCatalogCheck>();
        return builder;
    }

    /// <summary>
    /// Stage clients with their resilience pipeline (Polly), read outermost first: the caller's whole budget,
    /// retries of transient failures on the next replica, and a bound on each attempt. Replica names resolve through
    /// DNS and down replicas are probed over <c>grpc.health.v1</c>, unless other resolvers or probes are registered.
    /// </summary>
    public static IHostApplicationBuilder AddMuseStageClients(this IHostApplicationBuilder builder)
    {
        var section = builder.Configuration.GetSection(StageResilienceOptions.Section);
        builder.Services.AddOptions<StageResilienceOptions>().Bind(section).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddResiliencePipeline(StagePipelines.Unary, (pipeline, context) =>
        {
            var options = context.ServiceProvider.GetRequiredService<IOptions<StageResilienceOptions>>().Value;
            pipeline
                .AddRetry(new RetryStrategyOptions
                {
                    ShouldHandle = new PredicateBuilder().Handle<RpcException>(StageErrors.IsTransient),
                    MaxRetryAttempts = options.MaxRetries,
                    Delay = options.RetryDelay,
                    BackoffType = DelayBackoffType.Exponential,
                    UseJitter = true,
                })
                .AddTimeout(new TimeoutStrategyOptions { Timeout = options.AttemptTimeout });
        });
        // Polly's telemetry would print each result as-is: a stage reply is the text embeddings or the whole image.
        builder.Services.Configure<TelemetryOptions>(telemetry => telemetry.ResultFormatter = static (_, result) =>
            result is Google.Protobuf.IMessage message ? $"{message.Descriptor.Name} ({message.CalculateSize()} bytes)" : result);
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.TryAddSingleton<IReplicaResolver, DnsReplicaResolver>();
        builder.Services.TryAddSingleton<IReplicaProbe, GrpcReplicaProbe>();
        builder.Services.AddSingleton<StageClients>();
        builder.Services.AddSingleton<IStageGateway>(services => services.GetRequiredService<StageClients>());
        return builder;
    }
}

/// <summary>Loads and checks the pipeline catalog at start-up (it is otherwise built on first use).</summary>
internal sealed class PipelineCatalogCheck(IServiceProvider services) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        _ = services.GetRequiredService<PipelineCatalogSource>();
        _ = services.GetRequiredService<AdmissionController>();
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}

/// <summary>No replica information (no stage clients registered): reloads are not checked against replicas.</summary>
internal sealed class NoServedModels : IServedModels
{
    public static readonly NoServedModels Instance = new();

    public Task<IReadOnlySet<string>?> ServedAsync(string stage, CancellationToken ct) => Task.FromResult<IReadOnlySet<string>?>(null);
}

/// <summary>
/// Configuration <c>Muse:Uploads</c> of the orchestrator: caps on the images and masks of Edit requests (the
/// same caps and defaults as the image tokenizer's, see <see cref="ImageUploadLimits"/>).
/// </summary>
public sealed class UploadOptions : ImageUploadLimits
{
    /// <summary>Configuration section name.</summary>
    public const string Section = "Muse:Uploads";
}
