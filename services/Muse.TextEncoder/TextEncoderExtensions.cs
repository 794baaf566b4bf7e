using Muse.Inference;

namespace Muse.TextEncoder;

/// <summary>Registration of the text-encoder stage.</summary>
public static class TextEncoderExtensions
{
    /// <summary>
    /// Adds the served <see cref="TextEncoderModel"/>s (one tokenizer + T5 graph per loaded model). Call after
    /// <c>AddMuseStage(Stages.TextEncoder)</c>, which loads the models.
    /// </summary>
    public static TBuilder AddTextEncoder<TBuilder>(this TBuilder builder)
        where TBuilder : IHostApplicationBuilder
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddServedModels((services, model) => new TextEncoderModel(model, services.GetRequiredService<ILogger<TextEncoderModel>>()));
        return builder;
    }
}
