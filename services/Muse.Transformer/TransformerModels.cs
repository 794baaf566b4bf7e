using Muse.Inference;

namespace Muse.Transformer;

/// <summary>
/// The transformers this replica serves: every model of <see cref="StageModels"/> wrapped once as a
/// <see cref="TransformerModel"/>. Registered as a singleton; read-only after construction, so safe for concurrent use.
/// </summary>
/// <remarks>Does not own the models; <see cref="StageModels"/> does.</remarks>
public sealed class TransformerModels
{
    private readonly StageModels _models;
    private readonly Dictionary<string, TransformerModel> _byId;

    /// <summary>Wraps every loaded model; throws when one is not a usable transformer.</summary>
    public TransformerModels(StageModels models, ILogger<TransformerModels> logger)
    {
        _models = models;
        All = [.. models.All.Select(TransformerModel.From)];
        _byId = All.ToDictionary(m => m.Id, StringComparer.Ordinal);
        foreach (var model in All)
        {
            var manifest = model.Manifest;
            TransformerLog.ModelReady(logger, model.Id, manifest.Stage, manifest.GridHeight, manifest.GridWidth, manifest.CodebookSize);
        }
    }

    /// <summary>Every served transformer, in the order of <see cref="StageModels.All"/>.</summary>
    public IReadOnlyList<TransformerModel> All { get; }

    /// <summary>The transformer <c>name/version</c>, or the default (first loaded) one when <paramref name="id"/> is empty.</summary>
    /// <exception cref="ModelNotFoundException">No such model is loaded here.</exception>
    public TransformerModel Get(string? id) => _byId[_models.Get(id).Manifest.Id];
}
