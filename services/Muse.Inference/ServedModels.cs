using Muse.Hosting;

namespace Muse.Inference;

/// <summary>
/// Every model version of <see cref="StageModels"/> wrapped once, at start-up, as the stage's own model type
/// (<c>TextEncoderModel</c>, <c>VqganModel</c>, <c>TransformerModel</c>): wrapping reads tokenizers and resolves
/// tensor names, which no request should pay for. Singleton; read-only after construction, so safe for concurrent
/// use. Does not own the models; <see cref="StageModels"/> does.
/// </summary>
/// <typeparam name="TModel">The stage's wrapper of a <see cref="LoadedModel"/>.</typeparam>
public sealed class ServedModels<TModel>
    where TModel : class
{
    private readonly StageModels _models;
    private readonly Dictionary<string, TModel> _byId;

    /// <summary>Wraps every loaded model with <paramref name="wrap"/>; throws (failing start-up) when one cannot be.</summary>
    public ServedModels(StageModels models, Func<LoadedModel, TModel> wrap)
    {
        ArgumentNullException.ThrowIfNull(models);
        ArgumentNullException.ThrowIfNull(wrap);
        _models = models;
        All = [.. models.All.Select(wrap)];
        _byId = models.All.Select((m, i) => (m.Manifest.Id, Model: All[i])).ToDictionary(p => p.Id, p => p.Model, StringComparer.Ordinal);
    }

    /// <summary>Every wrapped model, in the order of <see cref="StageModels.All"/> (the first is the default).</summary>
    public IReadOnlyList<TModel> All { get; }

    /// <summary>The model <c>name/version</c>, or the default one when <paramref name="id"/> is null or empty.</summary>
    /// <exception cref="ModelNotFoundException">No such model is loaded here; the message lists the loaded ones.</exception>
    public TModel Get(string? id) => _byId[_models.Get(id).Manifest.Id];
}
