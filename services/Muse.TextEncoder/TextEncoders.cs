using Muse.Inference;

namespace Muse.TextEncoder;

/// <summary>
/// One <see cref="TextEncoderModel"/> per model loaded by <see cref="StageModels"/>, built at start-up
/// (reading a SentencePiece model is not free). Singleton; the models themselves are owned by
/// <see cref="StageModels"/>.
/// </summary>
public sealed class TextEncoders
{
    private readonly StageModels _models;
    private readonly Dictionary<string, TextEncoderModel> _encoders;

    /// <summary>Builds a tokenizer for every loaded model.</summary>
    public TextEncoders(StageModels models, ILogger<TextEncoders> logger)
    {
        ArgumentNullException.ThrowIfNull(models);
        _models = models;
        _encoders = models.All.ToDictionary(m => m.Manifest.Id, m => new TextEncoderModel(m, logger), StringComparer.Ordinal);
    }

    /// <summary>The encoder for <paramref name="id"/> (<c>name/version</c>), or the default one when empty.</summary>
    /// <exception cref="ModelNotFoundException">No such model is loaded.</exception>
    public TextEncoderModel Get(string? id) => _encoders[_models.Get(id).Manifest.Id];
}
