namespace Muse.TextEncoder;

/// <summary>Registration of the text-encoder stage.</summary>
public static class TextEncoderExtensions
{
    /// <summary>
    /// Adds <see cref="TextEncoders"/> (one tokenizer + T5 graph per loaded model). Call after
    /// <c>AddMuseStage(Stages.TextEncoder)</c>, which loads the models.
    /// </summary>
    public static TBuilder AddTextEncoder<TBuilder>(this TBuilder builder)
        where TBuilder : IHostApplicationBuilder
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddSingleton<TextEncoders>();
        return builder;
    }
}
