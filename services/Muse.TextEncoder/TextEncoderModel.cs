using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.Tokenizers;
using Muse.Inference;
using Muse.Protos;
using Muse.Protos.V1;
using Muse.Repository;

namespace Muse.TextEncoder;

/// <summary>
/// A loaded text encoder with its tokenizer, chosen by the manifest's <see cref="ModelManifest.TextTokenizer"/>: T5 with
/// SentencePiece (ids + end-of-sequence) or aMUSEd's CLIP with <see cref="ClipTokenizer"/> (start, ids, end); padded
/// to <see cref="ModelManifest.TextMaxLength"/> → <c>last_hidden_state</c> and, where the manifest maps it, the
/// <c>pooled</c> embedding. Thread-safe; does not own <see cref="Model"/> (StageModels does).
/// </summary>
public sealed class TextEncoderModel
{
    /// <summary>Padding id (T5 convention, see models/README.md).</summary>
    public const int PadIdT5 = 0;

    /// <summary>End-of-sequence id; every text ends with it.</summary>
    public const int EosId = 1;

    private readonly SentencePieceTokenizer? _tokenizer;
    private readonly ClipTokenizer? _clip;
    private readonly OnnxModel _graph;
    private readonly string _inputIdsName;
    private readonly string? _attentionMaskName;
    private readonly string _hiddenStateName;
    private readonly string? _pooledName;
    private readonly ILogger _logger;

    /// <summary>Reads the tokenizer file of <paramref name="model"/>.</summary>
    /// <exception cref="InvalidDataException">The tokenizer disagrees with the T5 id convention.</exception>
    public TextEncoderModel(LoadedModel model, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(model);
        Model = model;
        _logger = logger;
        var path = model.FilePath("tokenizer");
        if (model.Manifest.TextTokenizer == ModelManifest.ClipTokenizerKind)
        {
            _clip = ClipTokenizer.Load(path);
            PadId = _clip.PadId;
        }
        else
        {
            using (var stream = File.OpenRead(path))
            {
                // BOS/EOS are added here, not by the tokenizer: T5 has no BOS and the EOS id is part of the contract.
                _tokenizer = SentencePieceTokenizer.Create(stream, addBeginningOfSentence: false, addEndOfSentence: false);
            }

            if (_tokenizer.EndOfSentenceId != EosId)
            {
                throw new InvalidDataException(
                    $"{path}: end-of-sequence id is {_tokenizer.EndOfSentenceId}; {model.Manifest.Id} expects {EosId} (T5).");
            }
        }

        _graph = model.Graph("model");
        var manifest = model.Manifest;
        _inputIdsName = model.InputName("model", "input_ids");
        _attentionMaskName = manifest.Inputs.ContainsKey("attention_mask") ? model.InputName("model", "attention_mask") : null;   // CLIP has none
        _hiddenStateName = model.OutputName("model", "last_hidden_state");
        _pooledName = manifest.PooledEmbeddingDim > 0 ? model.OutputName("model", "pooled") : null;
        TextEncoderLog.TokenizerLoaded(logger, manifest.Id, path, _tokenizer?.Vocabulary.Count ?? -1, manifest.LowercaseText);
    }

    /// <summary>The model version (manifest and graph).</summary>
    public LoadedModel Model { get; }

    /// <summary>Tokens per sequence L, padding and end-of-sequence included.</summary>
    public int MaxLength => Model.Manifest.TextMaxLength;

    /// <summary>Id that fills the positions after a text's last token (T5: 0; CLIP: its pad token).</summary>
    public int PadId { get; } = PadIdT5;

    /// <summary>Width D of one embedding.</summary>
    public int EmbeddingDim => Model.Manifest.TextEmbeddingDim;

    /// <summary>
    /// The ids of <paramref name="text"/> followed by end-of-sequence, unpadded; may be longer than
    /// <see cref="MaxLength"/> (the caller decides what to do about that).
    /// </summary>
    public int[] Tokenize(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (_clip is not null)
        {
            return [_clip.StartId, .. _clip.EncodeText(text), _clip.EndId];
        }

        var normalized = Model.Manifest.LowercaseText ? Normalize(text) : text;
        var ids = _tokenizer!.EncodeToIds(normalized, addBeginningOfSentence: false, addEndOfSentence: false);
        var withEos = new int[ids.Count + 1];
        for (var i = 0; i < ids.Count; i++)
        {
            withEos[i] = ids[i];
        }

        withEos[^1] = EosId;
        return withEos;
    }

    /// <summary>
    /// Runs the encoder on already tokenized texts (each at most <see cref="MaxLength"/> ids).
    /// </summary>
    /// <returns>
    /// Embeddings float32 [n, L, D], mask int32 [n, L], the real token count per text, and the pooled embeddings
    /// float32 [n, P] (null when the model has none).
    /// </returns>
    public (Tensor Embeddings, Tensor Mask, int[] TokenCounts, Tensor? Pooled) Encode(
        IReadOnlyList<int[]> tokenized, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(tokenized);
        var batch = tokenized.Count;
        var length = MaxLength;

        // Preprocess: pad with PadId; the attention mask marks real tokens, end-of-sequence included.
        var inputIds = new long[batch * length];      // [batch, seqLen]
        Array.Fill(inputIds, (long)PadId);
        var attentionMask = new long[batch * length]; // [batch, seqLen]
        var mask = new int[batch * length];           // [batch, seqLen]
        var tokenCounts = new int[batch];
        for (var b = 0; b < batch; b++)
        {
            var ids = tokenized[b];
            if (ids.Length > length)
            {
                throw new ArgumentException($"Text {b} has {ids.Length} tokens; the limit is {length}.", nameof(tokenized));
            }

            tokenCounts[b] = ids.Length;
            for (var t = 0; t < ids.Length; t++)
            {
                inputIds[(b * length) + t] = ids[t];
                attentionMask[(b * length) + t] = 1;
                mask[(b * length) + t] = 1;
            }
        }

        // Run.
        long[] inputShape = [batch, length];
        using var idsValue = OrtValue.CreateTensorValueFromMemory(inputIds, inputShape);
        using var maskValue = OrtValue.CreateTensorValueFromMemory(attentionMask, inputShape);
        var inputs = new Dictionary<string, OrtValue> { [_inputIdsName] = idsValue };
        if (_attentionMaskName is not null)
        {
            inputs[_attentionMaskName] = maskValue;
        }

        using var outputs = _graph.Run(inputs, cancellationToken);

        // Postprocess: copy out before the OrtValue is disposed.
        var hidden = outputs[IndexOf(_graph.OutputNames, _hiddenStateName)];
        var shape = hidden.GetTensorTypeAndShape().Shape; // [batch, seqLen, embeddingDim]
        if (shape.Length != 3 || shape[0] != batch || shape[1] != length || shape[2] != EmbeddingDim)
        {
            throw new InvalidOperationException(
                $"{Model.Manifest.Id} returned {_hiddenStateName} of shape [{string.Join(", ", shape)}]; expected [{batch}, {length}, {EmbeddingDim}].");
        }

        var embeddings = TensorConvert.FromFloat32(hidden.GetTensorDataAsSpan<float>(), batch, length, EmbeddingDim);
        Tensor? pooled = null;
        if (_pooledName is not null)
        {
            var values = outputs[IndexOf(_graph.OutputNames, _pooledName)].GetTensorDataAsSpan<float>();   // [batch, P]
            var width = Model.Manifest.PooledEmbeddingDim;
            if (values.Length != batch * width)
            {
                throw new InvalidOperationException($"{Model.Manifest.Id} returned {values.Length} pooled values; expected [{batch}, {width}].");
            }

            pooled = TensorConvert.FromFloat32(values, batch, width);
        }

        TextEncoderLog.Encoded(_logger, Model.Manifest.Id, batch);
        return (embeddings, TensorConvert.FromInt32(mask, batch, length), tokenCounts, pooled);
    }

    /// <summary>Lower-case and collapse runs of white space into one space, trimming the ends.</summary>
    public static string Normalize(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return string.Join(' ', text.ToLowerInvariant().Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));
    }

    private static int IndexOf(IReadOnlyList<string> names, string name)
    {
        for (var i = 0; i < names.Count; i++)
        {
            if (names[i] == name)
            {
                return i;
            }
        }

        throw new InvalidOperationException($"The graph has no output '{name}'; it has {string.Join(", ", names)}.");
    }
}
