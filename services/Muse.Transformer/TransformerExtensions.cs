using Muse.Hosting;

namespace Muse.Transformer;

/// <summary>Registration of the token transformer stage.</summary>
public static class TransformerExtensions
{
    /// <summary>
    /// Registers what <see cref="TokenTransformerService"/> needs on top of <c>AddMuseStage</c>: the served
    /// <see cref="TransformerModels"/>, the <see cref="StepRunner"/> and the <see cref="IStepScheduler"/>
    /// (today <see cref="ImmediateStepScheduler"/>: no cross-stream batching).
    /// </summary>
    public static TBuilder AddTokenTransformer<TBuilder>(this TBuilder builder)
        where TBuilder : IHostApplicationBuilder
    {
        builder.Services.AddSingleton<TransformerModels>();
        builder.Services.AddSingleton<StepRunner>();
        builder.Services.AddSingleton<IStepScheduler, ImmediateStepScheduler>();
        builder.Services.AddHostedService<TransformerModelsLoader>();
        return builder;
    }

    // Built at start-up rather than on the first stream, so that a manifest naming inputs its graph lacks fails the
    // replica before it reports ready.
    private sealed class TransformerModelsLoader(TransformerModels models) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken) => models.All.Count > 0
            ? Task.CompletedTask
            : throw new InvalidOperationException("This replica serves no transformer.");

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
