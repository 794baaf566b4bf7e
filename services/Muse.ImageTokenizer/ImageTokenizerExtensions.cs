using Microsoft.Extensions.Options;
using Muse.Imaging;
using Muse.Inference;

namespace Muse.ImageTokenizer;

/// <summary>Registration of the image-tokenizer stage.</summary>
public static class ImageTokenizerExtensions
{
    /// <summary>
    /// Adds the served <see cref="VqganModel"/>s, <see cref="ImageTokenizerOptions"/> (section <c>Muse:ImageTokenizer</c>) and the
    /// <see cref="ImageUploadGuard"/>. Call after <c>AddMuseStage(Stages.ImageTokenizer)</c>.
    /// </summary>
    public static TBuilder AddImageTokenizer<TBuilder>(this TBuilder builder)
        where TBuilder : IHostApplicationBuilder
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddOptions<ImageTokenizerOptions>()
            .Bind(builder.Configuration.GetSection(ImageTokenizerOptions.Section))
            .ValidateDataAnnotations()
            .ValidateOnStart();
        builder.Services.AddServedModels((_, model) => new VqganModel(model));
        builder.Services.AddSingleton(services => new ImageUploadGuard(
            services.GetRequiredService<IOptions<ImageTokenizerOptions>>().Value, services.GetRequiredService<ILogger<ImageUploadGuard>>()));
        return builder;
    }
}
