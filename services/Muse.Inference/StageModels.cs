using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Muse.Hosting;
using Muse.Hosting.Security;
using Muse.Repository;

namespace Muse.Inference;

/// <summary>The stages a process serves, as given to <c>AddMuseStage</c>.</summary>
/// <param name="Stages">Values of <see cref="Repository.Stages"/>, e.g. <c>["base", "sr"]</c>.</param>
public sealed record StageSelection(IReadOnlyList<string> Stages);

/// <summary>
/// The model versions this process serves, loaded once at start-up through
/// <see cref="ModelLoader.LoadForStage"/> with <see cref="InferenceOptions"/> from <c>Muse:Inference</c>.
/// Registered as a singleton; owns the <see cref="LoadedModel"/>s (and their ONNX sessions) and disposes them
/// when the container is disposed. Safe for concurrent use.
/// </summary>
public sealed class StageModels : IDisposable
{
    private readonly ILogger<StageModels> _logger;
    private readonly Dictionary<string, LoadedModel> _byId;
    private bool _disposed;

    /// <summary>Loads the models of <paramref name="selection"/>; throws (failing start-up) when none can be loaded.</summary>
    public StageModels(StageSelection selection, IOptions<InferenceOptions> options, ILogger<StageModels> logger)
        : this(selection, ModelLoader.LoadForStage(options.Value, selection.Stages, logger), logger)
    {
    }

    /// <summary>Takes ownership of already loaded <paramref name="models"/> (tests, tools).</summary>
    public StageModels(StageSelection selection, IReadOnlyList<LoadedModel> models, ILogger<StageModels> logger)
    {
        ArgumentNullException.ThrowIfNull(selection);
        ArgumentNullException.ThrowIfNull(models);
        if (models.Count == 0)
        {
            throw new ArgumentException("At least one model is required.", nameof(models));
        }

        _logger = logger;
        Selection = selection;
        All = models;
        _byId = models.ToDictionary(m => m.Manifest.Id, StringComparer.Ordinal);
        InferenceLog.StageModelsLoaded(
            logger, models.Count, string.Join("/", selection.Stages), string.Join(", ", _byId.Keys));
    }

    /// <summary>The stages this process serves.</summary>
    public StageSelection Selection { get; }

    /// <summary>Every loaded model, in repository order (name, then version); the first is the default.</summary>
    public IReadOnlyList<LoadedModel> All { get; }

    /// <summary>The default model: the first of <see cref="All"/>.</summary>
    public LoadedModel Default => All[0];

    /// <summary>
    /// The model for <paramref name="id"/> (<c>name/version</c>), or <see cref="Default"/> when
    /// <paramref name="id"/> is null or empty.
    /// </summary>
    /// <exception cref="ModelNotFoundException">No loaded model has that id; the message lists the loaded ones.</exception>
    public LoadedModel Get(string? id)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (string.IsNullOrEmpty(id))
        {
            return Default;
        }

        return _byId.TryGetValue(id, out var model)
            ? model
            : throw new ModelNotFoundException(
                $"Model {BoundedText.Quote(id)} is not loaded here; this {string.Join("/", Selection.Stages)} process serves {string.Join(", ", _byId.Keys)}.");
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        foreach (var model in All)
        {
            model.Dispose();
        }

        InferenceLog.StageModelsReleased(_logger, All.Count);
    }
}
