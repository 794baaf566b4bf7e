using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Muse.Hosting;
using Muse.Inference;

namespace Muse.Transformer;

/// <summary>Registration of the token transformer stage.</summary>
public static class TransformerExtensions
{
    /// <summary>
    /// Registers what <see cref="TokenTransformerService"/> needs on top of <c>AddMuseStage</c>: the served
    /// <see cref="TransformerModel"/>s (<see cref="ServedModels{TModel}"/>), the <see cref="StepRunner"/>,
    /// <see cref="BatchingOptions"/> (section <c>Muse:Transformer:Batching</c>), <see cref="DecodeStreamOptions"/> and the <see cref="IStepScheduler"/>:
    /// <see cref="BatchingStepScheduler"/> when batching is enabled (the default), else <see cref="ImmediateStepScheduler"/>.
    /// </summary>
    public static TBuilder AddTokenTransformer<TBuilder>(this TBuilder builder)
        where TBuilder : IHostApplicationBuilder
    {
        builder.Services.AddServedModels((services, loaded) =>
        {
            var model = TransformerModel.From(loaded);
            var manifest = model.Manifest;
            TransformerLog.ModelReady(
                services.GetRequiredService<ILogger<TransformerModel>>(), model.Id, manifest.Stage, manifest.GridHeight, manifest.GridWidth, manifest.CodebookSize);
            return model;
        });
        builder.Services.AddSingleton<StepRunner>();
        builder.Services.AddOptions<BatchingOptions>()
            .Bind(builder.Configuration.GetSection(BatchingOptions.Section))
            .ValidateDataAnnotations()
            .ValidateOnStart();
        builder.Services.AddOptions<DecodeStreamOptions>()
            .Bind(builder.Configuration.GetSection(DecodeStreamOptions.Section))
            .ValidateDataAnnotations()
            .ValidateOnStart();
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<IStepScheduler>(services =>
            services.GetRequiredService<IOptions<BatchingOptions>>().Value.Enabled
                ? ActivatorUtilities.CreateInstance<BatchingStepScheduler>(services)
                : ActivatorUtilities.CreateInstance<ImmediateStepScheduler>(services));
        return builder;
    }
}
