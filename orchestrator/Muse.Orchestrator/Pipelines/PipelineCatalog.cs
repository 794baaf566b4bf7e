using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Muse.Decoding;
using Muse.Repository;

namespace Muse.Orchestrator.Pipelines;

/// <summary>The model versions a request runs, one per stage, chosen once and kept for the whole request.</summary>
public sealed record PipelineChoice(
    string Pipeline,
    ModelManifest TextEncoder,
    ModelManifest ImageTokenizer,
    ModelManifest Base,
    ModelManifest? SuperResolution,
    PipelineDefaults Defaults)
{
    /// <summary>(stage, manifest) in pipeline order; a pipeline without super-resolution (aMUSEd) has no SR entry.</summary>
    public IEnumerable<(string Stage, ModelManifest Model)> Models => SuperResolution is null
        ? [(Stages.TextEncoder, TextEncoder), (Stages.Base, Base), (Stages.ImageTokenizer, ImageTokenizer)]
        : [(Stages.TextEncoder, TextEncoder), (Stages.Base, Base), (Stages.SuperResolution, SuperResolution), (Stages.ImageTokenizer, ImageTokenizer)];

    /// <summary>The transformer whose tokens become the image: the SR model, or the base model when there is none.</summary>
    public ModelManifest Final => SuperResolution ?? Base;
}

/// <summary>
/// pipelines.json plus the manifests it names. Every combination of candidates is checked for compatibility at
/// start-up, so a pipeline that cannot work is refused before the first request.
/// </summary>
public sealed class PipelineCatalog
{
    private static readonly string[] RequiredStages = [Stages.TextEncoder, Stages.ImageTokenizer, Stages.Base];
    private readonly Dictionary<string, ModelManifest> _manifests;

    private PipelineCatalog(PipelinesDocument file, Dictionary<string, ModelManifest> manifests)
    {
        File = file;
        _manifests = manifests;
    }

    /// <summary>The parsed pipelines.json.</summary>
    public PipelinesDocument File { get; }

    /// <summary>Name of the default pipeline.</summary>
    public string DefaultPipeline => File.DefaultPipeline;

    /// <summary>Loads <paramref name="pipelinesPath"/> and the manifests it names from <paramref name="repository"/>.</summary>
    /// <exception cref="InvalidDataException">A pipeline is malformed, names a missing model, or pairs incompatible models.</exception>
    public static PipelineCatalog Load(string pipelinesPath, string repository) =>
        Parse(System.IO.File.ReadAllBytes(pipelinesPath), pipelinesPath, repository);

    /// <summary>
    /// Parses the bytes of a pipelines.json and loads the manifests it names from <paramref name="repository"/>;
    /// <paramref name="source"/> names the file in error messages.
    /// </summary>
    /// <exception cref="InvalidDataException">
    /// The JSON does not parse, or a pipeline is malformed, names a missing model, or pairs incompatible models.
    /// </exception>
    public static PipelineCatalog Parse(ReadOnlySpan<byte> json, string source, string repository)
    {
        PipelinesDocument? file;
        try
        {
            file = JsonSerializer.Deserialize<PipelinesDocument>(json, ModelManifest.JsonOptions);
        }
        catch (JsonException ex)
        {
            throw new InvalidDataException($"{source} is not valid pipelines JSON: {ex.Message}", ex);
        }

        if (file?.Pipelines is null)
        {
            throw new InvalidDataException($"{source} is empty.");
        }

        var manifests = new Dictionary<string, ModelManifest>(StringComparer.Ordinal);
        foreach (var reference in file.Pipelines.Values.SelectMany(p => p.Stages.Values).SelectMany(c => c))
        {
            if (!manifests.ContainsKey(reference.Id))
            {
                manifests[reference.Id] = Find(repository, reference.Id, source);
            }
        }

        var catalog = new PipelineCatalog(file, manifests);
        catalog.Validate(source);
        return catalog;
    }

    /// <summary>Every model id some pipeline of this catalog names, with its manifest.</summary>
    public IReadOnlyDictionary<string, ModelManifest> Models => _manifests;

    /// <summary>True when <paramref name="name"/> is a pipeline of this catalog.</summary>
    public bool Contains(string name) => File.Pipelines.ContainsKey(name);

    /// <summary>The manifest of a model id named by some pipeline.</summary>
    public ModelManifest Manifest(string id) => _manifests[id];

    /// <summary>
    /// Chooses one version per stage by weight, as a pure function of (pipeline, request id, stage): the choice is
    /// sticky for the request and reproducible from its id.
    /// </summary>
    public PipelineChoice Choose(string pipeline, string requestId)
    {
        var definition = File.Pipelines[pipeline];
        ModelManifest Pick(string stage)
        {
            var candidates = definition.Stages[stage];
            var total = candidates.Sum(c => c.Weight);
            var point = UnitHash($"{pipeline}\n{requestId}\n{stage}") * total;
            foreach (var candidate in candidates)
            {
                point -= candidate.Weight;
                if (point < 0)
                {
                    return _manifests[candidate.Id];
                }
            }

            return _manifests[candidates[^1].Id];
        }

        var superResolution = definition.Stages.ContainsKey(Stages.SuperResolution) ? Pick(Stages.SuperResolution) : null;
        return new PipelineChoice(pipeline, Pick(Stages.TextEncoder), Pick(Stages.ImageTokenizer), Pick(Stages.Base), superResolution, definition.Defaults);
    }

    /// <summary>
    /// Why a set of versions cannot work together, or null when it can: codebooks, text embeddings, grids and the
    /// tokenizer/encoder each transformer was trained with must agree; a transformer with a pooled-text input needs an
    /// encoder that makes that pooled embedding. <paramref name="superResolution"/> is null for a pipeline without one.
    /// </summary>
    public static string? Incompatibility(ModelManifest textEncoder, ModelManifest imageTokenizer, ModelManifest baseModel, ModelManifest? superResolution)
    {
        foreach (var transformer in superResolution is null ? [baseModel] : new[] { baseModel, superResolution })
        {
            if (transformer.CodebookSize != imageTokenizer.CodebookSize)
            {
                return $"{transformer.Id} has a codebook of {transformer.CodebookSize} tokens but {imageTokenizer.Id} has {imageTokenizer.CodebookSize}.";
            }

            if (transformer.ImageTokenizer.Length > 0 && transformer.ImageTokenizer != imageTokenizer.Id)
            {
                return $"{transformer.Id} was trained with image tokenizer {transformer.ImageTokenizer}, not {imageTokenizer.Id}.";
            }

            if (transformer.TextEmbeddingDim != textEncoder.TextEmbeddingDim || transformer.TextMaxLength != textEncoder.TextMaxLength)
            {
                return $"{transformer.Id} expects text embeddings [{transformer.TextMaxLength}, {transformer.TextEmbeddingDim}] but {textEncoder.Id} makes [{textEncoder.TextMaxLength}, {textEncoder.TextEmbeddingDim}].";
            }

            if (transformer.TextEncoder.Length > 0 && transformer.TextEncoder != textEncoder.Id)
            {
                return $"{transformer.Id} was trained with text encoder {transformer.TextEncoder}, not {textEncoder.Id}.";
            }

            if (transformer.PooledEmbeddingDim != 0 && transformer.PooledEmbeddingDim != textEncoder.PooledEmbeddingDim)
            {
                return $"{transformer.Id} expects a pooled text embedding of {transformer.PooledEmbeddingDim} but {textEncoder.Id} makes {textEncoder.PooledEmbeddingDim}.";
            }
        }

        if (superResolution is not null && (superResolution.LowResGridHeight != baseModel.GridHeight || superResolution.LowResGridWidth != baseModel.GridWidth))
        {
            return $"{superResolution.Id} is conditioned on a {superResolution.LowResGridHeight}x{superResolution.LowResGridWidth} grid but {baseModel.Id} makes {baseModel.GridHeight}x{baseModel.GridWidth}.";
        }

        return null;
    }

    private void Validate(string source)
    {
        if (!File.Pipelines.ContainsKey(File.DefaultPipeline))
        {
            throw new InvalidDataException($"{source}: default pipeline '{File.DefaultPipeline}' is not defined.");
        }

        foreach (var (name, definition) in File.Pipelines)
        {
            if (!Enum.TryParse<MaskScheduleKind>(definition.Defaults.MaskSchedule, ignoreCase: true, out _))
            {
                throw new InvalidDataException($"{source}: pipeline '{name}' names an unknown mask schedule '{definition.Defaults.MaskSchedule}'.");
            }

            if (!Enum.TryParse<ChoiceTemperatureSchedule>(definition.Defaults.ChoiceTemperatureSchedule, ignoreCase: true, out _))
            {
                throw new InvalidDataException($"{source}: pipeline '{name}' names an unknown choice temperature schedule '{definition.Defaults.ChoiceTemperatureSchedule}'.");
            }

            // Super-resolution is optional (aMUSEd decodes at full size in one stage); a listed stage needs candidates.
            foreach (var stage in RequiredStages.Append(Stages.SuperResolution).Where(s => RequiredStages.Contains(s) || definition.Stages.ContainsKey(s)))
            {
                if (!definition.Stages.TryGetValue(stage, out var candidates) || candidates.Count == 0)
                {
                    throw new InvalidDataException($"{source}: pipeline '{name}' has no '{stage}' model.");
                }

                if (candidates.Any(c => !(c.Weight > 0) || !double.IsFinite(c.Weight)))
                {
                    throw new InvalidDataException($"{source}: pipeline '{name}' stage '{stage}' has a weight that is not a positive number.");
                }

                var wrong = candidates.FirstOrDefault(c => _manifests[c.Id].Stage != stage);
                if (wrong is not null)
                {
                    throw new InvalidDataException($"{source}: pipeline '{name}' lists {wrong.Id}, a '{_manifests[wrong.Id].Stage}' model, under '{stage}'.");
                }
            }

            var combinations =
                from t in definition.Stages[Stages.TextEncoder]
                from v in definition.Stages[Stages.ImageTokenizer]
                from b in definition.Stages[Stages.Base]
                from s in definition.Stages.TryGetValue(Stages.SuperResolution, out var sr) ? sr.Select(c => (ModelManifest?)_manifests[c.Id]) : [null]
                select Incompatibility(_manifests[t.Id], _manifests[v.Id], _manifests[b.Id], s);
            var problem = combinations.FirstOrDefault(p => p is not null);
            if (problem is not null)
            {
                throw new InvalidDataException($"{source}: pipeline '{name}' pairs models that cannot work together: {problem}");
            }
        }
    }

    private static ModelManifest Find(string repository, string id, string source)
    {
        try
        {
            return ModelRepository.Find(repository, id).Manifest;
        }
        catch (Exception ex) when (ex is IOException or JsonException or ArgumentException or UnauthorizedAccessException)
        {
            // A missing version is a refused configuration, as an incompatible one is, not a crash.
            throw new InvalidDataException($"{source}: {ex.Message}", ex);
        }
    }

    // A uniform number in [0, 1) from a string: routing must not depend on process or replica.
    private static double UnitHash(string text)
    {
        var digest = SHA256.HashData(Encoding.UTF8.GetBytes(text));
        return (BitConverter.ToUInt64(digest, 0) >> 11) * (1.0 / (1UL << 53));
    }
}
