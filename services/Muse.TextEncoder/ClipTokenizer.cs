using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace Muse.TextEncoder;

/// <summary>
/// CLIP's byte-level BPE (aMUSEd's <c>tokenizer/vocab.json</c> + <c>merges.txt</c>) through Microsoft.ML.Tokenizers'
/// <see cref="BpeTokenizer"/> with its byte-level and end-of-word (<c>&lt;/w&gt;</c>) options. Text is cleaned as
/// transformers' <c>CLIPTokenizer</c> does when ftfy is absent (<see cref="ClipNormalizer"/>), split by CLIP's regular
/// expression, and framed as <c>&lt;|startoftext|&gt; … &lt;|endoftext|&gt;</c> padded to <see cref="MaxLength"/>
/// with the pad token (truncated to <see cref="MaxLength"/> − 2 text tokens first). Thread-safe.
/// </summary>
public sealed class ClipTokenizer
{
    /// <summary>The sequence length aMUSEd pads to (CLIP's context length).</summary>
    public const int DefaultMaxLength = 77;

    private const string StartOfText = "<|startoftext|>";
    private const string EndOfText = "<|endoftext|>";

    // CLIP's split: contractions, letter runs, single digits, runs of anything else but white space (case-insensitive,
    // as the reference compiles it).
    private static readonly Regex Split = new(
        @"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+",
        RegexOptions.IgnoreCase | RegexOptions.CultureInvariant | RegexOptions.Compiled);

    private readonly BpeTokenizer _bpe;

    private ClipTokenizer(BpeTokenizer bpe, int startId, int endId, int padId, int maxLength)
    {
        _bpe = bpe;
        StartId = startId;
        EndId = endId;
        PadId = padId;
        MaxLength = maxLength;
    }

    /// <summary>Id of <c>&lt;|startoftext|&gt;</c>.</summary>
    public int StartId { get; }

    /// <summary>Id of <c>&lt;|endoftext|&gt;</c>.</summary>
    public int EndId { get; }

    /// <summary>Id the ids are padded with (the tokenizer folder's pad token; <c>&lt;|endoftext|&gt;</c> by default).</summary>
    public int PadId { get; }

    /// <summary>Ids per sequence, start and end included.</summary>
    public int MaxLength { get; }

    /// <summary>
    /// Reads a diffusers <c>tokenizer/</c> folder: <c>vocab.json</c>, <c>merges.txt</c> and, when present,
    /// <c>special_tokens_map.json</c> / <c>tokenizer_config.json</c> for the pad token and <c>model_max_length</c>.
    /// </summary>
    /// <exception cref="InvalidDataException">A file is missing or the vocabulary lacks a special token.</exception>
    public static ClipTokenizer Load(string folder)
    {
        var vocabPath = Path.Combine(folder, "vocab.json");
        var mergesPath = Path.Combine(folder, "merges.txt");
        foreach (var path in new[] { vocabPath, mergesPath })
        {
            if (!File.Exists(path))
            {
                throw new InvalidDataException($"{folder}: {Path.GetFileName(path)} is missing (a CLIP tokenizer folder has vocab.json and merges.txt).");
            }
        }

        var vocabulary = JsonSerializer.Deserialize<Dictionary<string, int>>(File.ReadAllText(vocabPath))
            ?? throw new InvalidDataException($"{vocabPath}: not a JSON object.");
        var (padToken, maxLength) = ReadSpecialTokens(folder);
        int Id(string token) => vocabulary.TryGetValue(token, out var id)
            ? id
            : throw new InvalidDataException($"{vocabPath}: the vocabulary has no '{token}'.");

        var specials = new Dictionary<string, int>(StringComparer.Ordinal) { [StartOfText] = Id(StartOfText), [EndOfText] = Id(EndOfText) };
        var options = new BpeOptions(vocabulary)
        {
            // The reference reads merges from line 2 on (line 1 is the version header).
            Merges = File.ReadLines(mergesPath).Skip(1).Where(l => l.Length > 0),
            PreTokenizer = new RegexPreTokenizer(Split, specials),
            Normalizer = new ClipNormalizer(),
            EndOfWordSuffix = "</w>",
            ByteLevel = true,
            SpecialTokens = specials,
            UnknownToken = EndOfText,
        };
        return new ClipTokenizer(BpeTokenizer.Create(options), Id(StartOfText), Id(EndOfText), Id(padToken), maxLength);
    }

    /// <summary>The BPE ids of <paramref name="text"/>, without start, end or padding.</summary>
    public IReadOnlyList<int> EncodeText(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return _bpe.EncodeToIds(text);
    }

    /// <summary>
    /// <paramref name="text"/> as the text encoder's input: start, at most <see cref="MaxLength"/> − 2 text ids, end,
    /// padding to <see cref="MaxLength"/> (aMUSEd's <c>padding="max_length", truncation=True</c>).
    /// </summary>
    public int[] EncodePadded(string text)
    {
        var body = EncodeText(text);
        var ids = new int[MaxLength];
        Array.Fill(ids, PadId);
        ids[0] = StartId;
        var count = Math.Min(body.Count, MaxLength - 2);
        for (var i = 0; i < count; i++)
        {
            ids[i + 1] = body[i];
        }

        ids[count + 1] = EndId;
        return ids;
    }

    private static (string PadToken, int MaxLength) ReadSpecialTokens(string folder)
    {
        var pad = EndOfText;
        var maxLength = DefaultMaxLength;
        foreach (var name in new[] { "special_tokens_map.json", "tokenizer_config.json" })
        {
            var path = Path.Combine(folder, name);
            if (!File.Exists(path))
            {
                continue;
            }

            using var document = JsonDocument.Parse(File.ReadAllText(path));
            var root = document.RootElement;
            if (root.TryGetProperty("pad_token", out var padToken))
            {
                // Either a plain string or an AddedToken object {"content": …}.
                pad = padToken.ValueKind == JsonValueKind.String
                    ? padToken.GetString() ?? pad
                    : padToken.TryGetProperty("content", out var content) ? content.GetString() ?? pad : pad;
            }

            if (root.TryGetProperty("model_max_length", out var length) && length.TryGetInt32(out var value) && value is > 2 and <= 4096)
            {
                maxLength = value;
            }
        }

        return (pad, maxLength);
    }
}

/// <summary>
/// The text cleaning of transformers' <c>CLIPTokenizer</c> without ftfy (its <c>BasicTokenizer</c> with
/// <c>strip_accents=False</c> and no punctuation split): control characters dropped, white space unified, CJK
/// ideographs set apart by spaces, NFC, lower case, runs of white space collapsed and ends trimmed.
/// </summary>
public sealed class ClipNormalizer : Normalizer
{
    /// <inheritdoc />
    public override string Normalize(string original)
    {
        ArgumentNullException.ThrowIfNull(original);
        var cleaned = new StringBuilder(original.Length);
        foreach (var rune in original.EnumerateRunes())
        {
            if (rune.Value is 0 or 0xFFFD || IsControl(rune))
            {
                continue;
            }

            if (IsWhiteSpace(rune))
            {
                cleaned.Append(' ');
            }
            else if (IsCjk(rune.Value))
            {
                cleaned.Append(' ').Append(rune.ToString()).Append(' ');
            }
            else
            {
                cleaned.Append(rune.ToString());
            }
        }

        var composed = cleaned.ToString().Normalize(NormalizationForm.FormC);
        var words = composed.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return string.Join(' ', words.Select(w => w.ToLowerInvariant()));
    }

    /// <inheritdoc />
    public override string Normalize(ReadOnlySpan<char> original) => Normalize(original.ToString());

    // Python's BERT helpers: \t \n \r and category Zs are white space; other C* categories are control characters.
    private static bool IsWhiteSpace(Rune rune) =>
        rune.Value is ' ' or '\t' or '\n' or '\r' || Rune.GetUnicodeCategory(rune) == UnicodeCategory.SpaceSeparator;

    private static bool IsControl(Rune rune)
    {
        if (rune.Value is '\t' or '\n' or '\r')
        {
            return false;
        }

        return Rune.GetUnicodeCategory(rune) is UnicodeCategory.Control or UnicodeCategory.Format or UnicodeCategory.Surrogate
            or UnicodeCategory.PrivateUse or UnicodeCategory.OtherNotAssigned;
    }

    private static bool IsCjk(int cp) =>
        cp is (>= 0x4E00 and <= 0x9FFF) or (>= 0x3400 and <= 0x4DBF) or (>= 0x20000 and <= 0x2A6DF) or (>= 0x2A700 and <= 0x2B73F)
            or (>= 0x2B740 and <= 0x2B81F) or (>= 0x2B820 and <= 0x2CEAF) or (>= 0xF900 and <= 0xFAFF) or (>= 0x2F800 and <= 0x2FA1F);
}
