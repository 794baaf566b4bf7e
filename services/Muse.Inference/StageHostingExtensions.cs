using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.ML.OnnxRuntime;
using Muse.Hosting;

namespace Muse.Inference;

/// <summary>
/// What a stage process adds to the shared host (<see cref="MuseHostingExtensions.AddMuseDefaults"/>): its models,
/// loaded at start-up, readiness on them, the <c>muse.v1.StageInfo</c> service, and ONNX Runtime failures reported
/// as "Inference failed". A stage's Program.cs is
/// <c>builder.AddMuseStage(Stages.X); builder.AddX(); … app.MapMuseStage&lt;XService&gt;();</c>.
/// </summary>
public static class StageHostingExtensions
{
    /// <summary>
    /// <see cref="MuseHostingExtensions.AddMuseDefaults"/>, the cluster credential when one is configured (stages are
    /// internal: <see cref="MuseHostingExtensions.RequireMuseInternalToken"/>), plus the models of
    /// <paramref name="stages"/> (see <see cref="AddMuseModels"/>).
    /// </summary>
    /// <param name="builder">The application builder.</param>
    /// <param name="stages">Values of <see cref="Repository.Stages"/> this process serves, e.g. <c>Stages.TextEncoder</c>.</param>
    public static TBuilder AddMuseStage<TBuilder>(this TBuilder builder, params string[] stages)
        where TBuilder : IHostApplicationBuilder =>
        builder.AddMuseDefaults().RequireMuseInternalToken().AddMuseModels(stages);

    /// <summary>
    /// Loads the models of <paramref name="stages"/> at start-up (before Kestrel listens) into the singleton
    /// <see cref="StageModels"/>, with <see cref="InferenceOptions"/> bound from <c>Muse:Inference</c>; adds the
    /// <c>ready</c> health check. A repository without a usable model fails start-up.
    /// </summary>
    public static TBuilder AddMuseModels<TBuilder>(this TBuilder builder, params string[] stages)
        where TBuilder : IHostApplicationBuilder
    {
        ArgumentNullException.ThrowIfNull(builder);
        if (stages is null || stages.Length == 0)
        {
            throw new ArgumentException("Name at least one stage (see Muse.Repository.Stages).", nameof(stages));
        }

        var section = builder.Configuration.GetSection(InferenceOptions.Section);
        builder.Services.AddOptions<InferenceOptions>()
            .Bind(section)
            .ValidateDataAnnotations()
            .ValidateOnStart();
        builder.Services.AddSingleton(new StageSelection([.. stages]));
        builder.Services.AddSingleton<StageModels>();
        builder.Services.AddHostedService<StageModelsLoader>();
        builder.Services.AddHealthChecks().AddCheck<StageModelsHealthCheck>("models", tags: [MuseHostingExtensions.ReadyTag]);
        builder.Services.Configure<ErrorMappingOptions>(errors => errors.InternalErrorNames[typeof(OnnxRuntimeException)] = "Inference failed");
        return builder;
    }

    /// <summary>
    /// Registers <see cref="ServedModels{TModel}"/>: every loaded model wrapped once by <paramref name="wrap"/>, at
    /// start-up, so that a model the stage cannot use (a manifest naming tensors its graph lacks, a broken tokenizer)
    /// fails the process before it reports ready. Call after <see cref="AddMuseModels"/>.
    /// </summary>
    public static IServiceCollection AddServedModels<TModel>(this IServiceCollection services, Func<IServiceProvider, LoadedModel, TModel> wrap)
        where TModel : class
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(wrap);
        services.AddSingleton(provider => new ServedModels<TModel>(provider.GetRequiredService<StageModels>(), model => wrap(provider, model)));
        services.AddHostedService<ServedModelsLoader<TModel>>();
        return services;
    }

    /// <summary>Maps the stage's <typeparamref name="TService"/>, <c>muse.v1.StageInfo</c> and <see cref="MuseHostingExtensions.MapMuseDefaults"/>.</summary>
    public static IEndpointRouteBuilder MapMuseStage<TService>(this IEndpointRouteBuilder endpoints)
        where TService : class
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        endpoints.MapGrpcService<TService>();
        endpoints.MapGrpcService<StageInfoService>();
        return endpoints.MapMuseDefaults();
    }

    private sealed class ServedModelsLoader<TModel>(ServedModels<TModel> models) : IHostedService
        where TModel : class
    {
        public Task StartAsync(CancellationToken cancellationToken) =>
            models.All.Count > 0 ? Task.CompletedTask : throw new InvalidOperationException("No model to serve.");

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
