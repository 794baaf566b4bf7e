using Muse.Hosting;
using Muse.Inference;

namespace Muse.Transformer;

/// <summary>Registration of the token transformer stage.</summary>
public static class TransformerExtensions
{
    /// <summary>
    /// Registers what <see cref="TokenTransformerService"/> needs on top of <c>AddMuseStage</c>: the served
    /// <see cref="TransformerModel"/>s (<see cref="ServedModels{TModel}"/>), the <see cref="StepRunner"/> and the <see cref="IStepScheduler"/>
    /// (today <see cref="ImmediateStepScheduler"/>: no cross-stream batching).
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
        builder.Services.AddSingleton<IStepScheduler, ImmediateStepScheduler>();
        return builder;
    }
}
