using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.Tokenizers;
using Muse.Inference;
using Muse.Protos;
using Muse.Protos.V1;
using Muse.Repository;

namespace Muse.TextEncoder;

/// <summary>
/// A loaded T5 encoder with its SentencePiece tokenizer: texts → ids (+ end-of-sequence, padded to
/// <see cref="ModelManifest.TextMaxLength"/>) → <c>last_hidden_state</c>. Thread-safe; does not own
/// <see cref="Model"/> (StageModels does).
/// </summary>
public sealed class TextEncoderModel
{
    /// <summary>Padding id (T5 convention, see models/README.md).</summary>
    public const int PadId = 0;

    /// <summary>End-of-sequence id; every text ends with it.</summary>
    public const int EosId = 1;

    private readonly SentencePieceTokenizer _tokenizer;
    private readonly OnnxModel _graph;
    private readonly string _inputIdsName;
    private readonly string _attentionMaskName;
    private readonly string _hiddenStateName;
    private readonly ILogger _logger;

    /// <summary>Reads the tokenizer file of <paramref name="model"/>.</summary>
    /// <exception cref="InvalidDataException">The tokenizer disagrees with the T5 id convention.</exception>
    public TextEncoderModel(LoadedModel model, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(model);
        Model = model;
        _logger = logger;
        var path = model.FilePath("tokenizer");
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

        _graph = model.Graph("model");
        _inputIdsName = model.InputName("model", "input_ids");
        _attentionMaskName = model.InputName("model", "attention_mask");
        _hiddenStateName = model.OutputName("model", "last_hidden_state");
        TextEncoderLog.TokenizerLoaded(logger, model.Manifest.Id, path, _tokenizer.Vocabulary.Count, model.Manifest.LowercaseText);
    }

    /// <summary>The model version (manifest and graph).</summary>
    public LoadedModel Model { get; }

    /// <summary>Tokens per sequence L, padding and end-of-sequence included.</summary>
    public int MaxLength => Model.Manifest.TextMaxLength;

    /// <summary>Width D of one embedding.</summary>
    public int EmbeddingDim => Model.Manifest.TextEmbeddingDim;

    /// <summary>
    /// The ids of <paramref name="text"/> followed by end-of-sequence, unpadded; may be longer than
    /// <see cref="MaxLength"/> (the caller decides what to do about that).
    /// </summary>
    public int[] Tokenize(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var normalized = Model.Manifest.LowercaseText ? Normalize(text) : text;
        var ids = _tokenizer.EncodeToIds(normalized, addBeginningOfSentence: false, addEndOfSentence: false);
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
    /// <returns>Embeddings float32 [n, L, D], mask int32 [n, L] and the real token count per text.</returns>
    public (Tensor Embeddings, Tensor Mask, int[] TokenCounts) Encode(
        IReadOnlyList<int[]> tokenized, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(tokenized);
        var batch = tokenized.Count;
        var length = MaxLength;

        // Preprocess: pad with PadId; the attention mask marks real tokens, end-of-sequence included.
        var inputIds = new long[batch * length];      // [batch, seqLen]
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
        var inputs = new Dictionary<string, OrtValue>
        {
            [_inputIdsName] = idsValue,
            [_attentionMaskName] = maskValue,
        };
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
        TextEncoderLog.Encoded(_logger, Model.Manifest.Id, batch);
        return (embeddings, TensorConvert.FromInt32(mask, batch, length), tokenCounts);
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
