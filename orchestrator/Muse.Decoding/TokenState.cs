namespace Muse.Decoding;

/// <summary>
/// The token grid of one image being decoded, owned by the orchestrator: which tokens are fixed, which are
/// still masked, and the latest prediction. A batch is one state per image.
/// A step is <see cref="Accept"/> (fill every masked position with the replica's sample) followed by
/// <see cref="Remask"/> (mask the least confident of those again). Not thread-safe; the arrays it exposes
/// belong to the state and must not be modified by callers.
/// </summary>
public sealed class TokenState
{
    private readonly bool[] _wasMasked;     // [N]: masked before the current step, set by Accept
    private bool _accepted;

    /// <summary>
    /// Creates a state from a grid: positions holding <paramref name="maskTokenId"/> are masked, the others
    /// hold tokens. The state copies <paramref name="tokens"/> and <paramref name="known"/>.
    /// </summary>
    /// <param name="gridHeight">Token rows h.</param>
    /// <param name="gridWidth">Token columns w; N = h·w.</param>
    /// <param name="maskTokenId">The mask token (the codebook size K for Muse models).</param>
    /// <param name="tokens">[h, w] row-major tokens in [0, K) or <paramref name="maskTokenId"/>.</param>
    /// <param name="known">[h, w] positions fixed by the user (editing); they must hold a token. Empty = none.</param>
    /// <param name="initiallyMasked">
    /// Tokens masked before the first step; default = those masked now. Give it when restoring a state that is
    /// part-way through decoding, since the schedule is a fraction of it.
    /// </param>
    public TokenState(int gridHeight, int gridWidth, int maskTokenId, ReadOnlySpan<int> tokens, ReadOnlySpan<bool> known = default, int? initiallyMasked = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(gridHeight, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(gridWidth, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(maskTokenId);
        var length = checked(gridHeight * gridWidth);
        if (tokens.Length != length)
        {
            throw new ArgumentException($"Expected {length} tokens ({gridHeight}×{gridWidth}), got {tokens.Length}.", nameof(tokens));
        }

        if (!known.IsEmpty && known.Length != length)
        {
            throw new ArgumentException($"Expected {length} known flags, got {known.Length}.", nameof(known));
        }

        GridHeight = gridHeight;
        GridWidth = gridWidth;
        MaskTokenId = maskTokenId;
        Tokens = tokens.ToArray();
        Known = known.IsEmpty ? new bool[length] : known.ToArray();
        Prediction = tokens.ToArray();
        _wasMasked = new bool[length];
        for (var i = 0; i < length; i++)
        {
            if (Tokens[i] == maskTokenId)
            {
                if (Known[i])
                {
                    throw new ArgumentException($"Position {i} is known but masked.", nameof(known));
                }

                MaskedCount++;
            }
            else if (Tokens[i] < 0)
            {
                throw new ArgumentException($"Token {Tokens[i]} at position {i} is negative.", nameof(tokens));
            }
        }

        InitiallyMasked = initiallyMasked ?? MaskedCount;
        ArgumentOutOfRangeException.ThrowIfLessThan(InitiallyMasked, MaskedCount, nameof(initiallyMasked));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(InitiallyMasked, length - Known.AsSpan().Count(true), nameof(initiallyMasked));
    }

    /// <summary>Token rows h.</summary>
    public int GridHeight { get; }

    /// <summary>Token columns w.</summary>
    public int GridWidth { get; }

    /// <summary>Tokens in the grid, N = h·w.</summary>
    public int Length => Tokens.Length;

    /// <summary>The mask token id.</summary>
    public int MaskTokenId { get; }

    /// <summary>[h, w] row-major current tokens; masked positions hold <see cref="MaskTokenId"/>. Owned by the state.</summary>
    public int[] Tokens { get; }

    /// <summary>[h, w] positions fixed by the user (editing); never masked, never resampled. Owned by the state.</summary>
    public bool[] Known { get; }

    /// <summary>
    /// [h, w] the latest sampled token at every position (the current token where one is fixed), for previews:
    /// equal to <see cref="Tokens"/> except at positions re-masked in the last step; masked positions that were
    /// never sampled hold <see cref="MaskTokenId"/>. Owned by the state.
    /// </summary>
    public int[] Prediction { get; }

    /// <summary>Tokens masked before the first step (MaskGIT's "unknown number in the beginning").</summary>
    public int InitiallyMasked { get; }

    /// <summary>Tokens masked now.</summary>
    public int MaskedCount { get; private set; }

    /// <summary>A fully masked grid: generation from nothing.</summary>
    public static TokenState AllMasked(int gridHeight, int gridWidth, int maskTokenId)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(gridHeight, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(gridWidth, 1);
        var tokens = new int[checked(gridHeight * gridWidth)];
        Array.Fill(tokens, maskTokenId);
        return new TokenState(gridHeight, gridWidth, maskTokenId, tokens);
    }

    /// <summary>
    /// A grid for editing (inpainting, outpainting, mask-free editing): the positions set in
    /// <paramref name="editMask"/> are masked and decoded again, every other one keeps its token and is known.
    /// </summary>
    /// <param name="gridHeight">Token rows h.</param>
    /// <param name="gridWidth">Token columns w.</param>
    /// <param name="maskTokenId">The mask token id.</param>
    /// <param name="tokens">[h, w] the image's tokens, all in [0, K).</param>
    /// <param name="editMask">[h, w] true where the token is to be regenerated (see <see cref="EditMasks"/>).</param>
    public static TokenState ForEditing(int gridHeight, int gridWidth, int maskTokenId, ReadOnlySpan<int> tokens, ReadOnlySpan<bool> editMask)
    {
        if (editMask.Length != tokens.Length)
        {
            throw new ArgumentException($"Expected {tokens.Length} mask flags, got {editMask.Length}.", nameof(editMask));
        }

        var masked = tokens.ToArray();
        var known = new bool[masked.Length];
        for (var i = 0; i < masked.Length; i++)
        {
            if (tokens[i] == maskTokenId)
            {
                throw new ArgumentException($"Position {i} of an image to edit holds the mask token.", nameof(tokens));
            }

            known[i] = !editMask[i];
            if (editMask[i])
            {
                masked[i] = maskTokenId;
            }
        }

        return new TokenState(gridHeight, gridWidth, maskTokenId, masked, known);
    }

    /// <summary>A deep copy (e.g. a snapshot to resume from), taken between steps.</summary>
    /// <exception cref="InvalidOperationException">The current step was accepted but not yet re-masked.</exception>
    public TokenState Clone()
    {
        if (_accepted)
        {
            throw new InvalidOperationException("A state can be copied between steps only, not between Accept and Remask.");
        }

        var copy = new TokenState(GridHeight, GridWidth, MaskTokenId, Tokens, Known, InitiallyMasked);
        Prediction.CopyTo(copy.Prediction, 0);
        return copy;
    }

    /// <summary>
    /// First half of a step: fills every masked position with the token sampled for it and remembers which
    /// positions those were for <see cref="Remask"/>. Other positions of <paramref name="sampled"/> are ignored,
    /// so tokens fixed earlier never change.
    /// </summary>
    /// <param name="sampled">[h, w] the replica's tokens; at masked positions in [0, K), never the mask token.</param>
    /// <exception cref="InvalidOperationException">The previous step was accepted but not re-masked.</exception>
    public void Accept(ReadOnlySpan<int> sampled)
    {
        if (_accepted)
        {
            throw new InvalidOperationException("Accept was called twice without Remask in between.");
        }

        CheckSample(sampled, default);

        for (var i = 0; i < Tokens.Length; i++)
        {
            _wasMasked[i] = Tokens[i] == MaskTokenId;
            if (_wasMasked[i])
            {
                Tokens[i] = sampled[i];
                Prediction[i] = sampled[i];
            }
        }

        MaskedCount = 0;
        _accepted = true;
    }

    /// <summary>
    /// Second half of a step, MaskGIT's re-masking: among the candidates, masks again the
    /// <paramref name="maskCount"/> with the lowest score
    /// <c>log(confidence) + choiceTemperature · Gumbel(seed, stage, step, position, Remask)</c>.
    /// The candidates are the positions that were masked before this step or, with <paramref name="recompete"/>,
    /// every position the user did not fix (<see cref="Known"/>), so committed tokens compete with the new ones.
    /// Ties are broken by position (lower first), so the result is a pure function of the arguments.
    /// </summary>
    /// <param name="confidence">
    /// [h, w] probability of each token; read at the candidates (with <paramref name="recompete"/>, the committed
    /// tokens' probabilities under this step's distribution, not 1).
    /// </param>
    /// <param name="maskCount">Tokens to leave masked, 0 to the number of candidates (see <see cref="MaskSchedule.MaskCount"/>).</param>
    /// <param name="choiceTemperature">Gumbel noise scale, ≥ 0; 0 = purely by confidence. Annealed by the caller.</param>
    /// <param name="seed">This image's seed.</param>
    /// <param name="stage">The decoding stage (part of the noise identity).</param>
    /// <param name="step">The 0-based step t just sampled (part of the noise identity).</param>
    /// <param name="recompete">Let tokens committed in earlier steps be masked again (<see cref="DecodeOptions.Recompete"/>).</param>
    /// <exception cref="InvalidOperationException"><see cref="Accept"/> was not called for this step.</exception>
    public void Remask(ReadOnlySpan<float> confidence, int maskCount, double choiceTemperature, ulong seed, DecodeStage stage, int step, bool recompete = false)
    {
        if (!_accepted)
        {
            throw new InvalidOperationException("Remask must follow Accept.");
        }

        CheckLength(confidence.Length, nameof(confidence));
        if (!(choiceTemperature >= 0 && double.IsFinite(choiceTemperature)))
        {
            throw new ArgumentOutOfRangeException(nameof(choiceTemperature), choiceTemperature, "Must be finite and ≥ 0.");
        }

        var candidates = 0;
        for (var i = 0; i < Tokens.Length; i++)
        {
            candidates += IsCandidate(i, recompete) ? 1 : 0;
        }

        ArgumentOutOfRangeException.ThrowIfNegative(maskCount);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(maskCount, candidates);

        var scores = new double[Tokens.Length];     // [N]
        var order = new int[Tokens.Length];         // [N]
        for (var i = 0; i < scores.Length; i++)
        {
            order[i] = i;
            if (!IsCandidate(i, recompete))
            {
                // Fixed tokens (user-known, or accepted in an earlier step without re-competition) must never be masked
                // again. Their confidence of 1 is not enough: log 1 = 0 and Gumbel noise can lift a sampled token's score above 0.
                scores[i] = double.PositiveInfinity;
                continue;
            }

            var c = confidence[i];
            if (!IsProbability(c))
            {
                throw new ArgumentException($"Confidence {c} at position {i} is not a probability.", nameof(confidence));
            }

            // log 0 = −∞ sorts first, which is right for a token the model gave no chance.
            scores[i] = Math.Log(c);
            if (choiceTemperature > 0)
            {
                scores[i] += choiceTemperature * CounterRng.Gumbel(seed, stage, step, i, RngPurpose.Remask);
            }
        }

        // Stable order by (score, position): Array.Sort is unstable, so the position is part of the key.
        Array.Sort(order, (a, b) => scores[a] != scores[b] ? scores[a].CompareTo(scores[b]) : a.CompareTo(b));
        for (var k = 0; k < maskCount; k++)
        {
            Tokens[order[k]] = MaskTokenId;
        }

        MaskedCount = maskCount;
        _accepted = false;
    }

    /// <summary>
    /// Checks a replica's answer for this state without changing it: at every masked position a codebook token
    /// (not the mask token, not negative) and, when <paramref name="confidence"/> is given, a probability there
    /// and, with <paramref name="recompete"/>, at every position not <see cref="Known"/>.
    /// Lets a caller reject a bad answer before any state of a batch has moved on.
    /// </summary>
    /// <exception cref="ArgumentException">Lengths differ or a value is invalid.</exception>
    public void CheckSample(ReadOnlySpan<int> sampled, ReadOnlySpan<float> confidence, bool recompete = false)
    {
        CheckLength(sampled.Length, nameof(sampled));
        if (!confidence.IsEmpty)
        {
            CheckLength(confidence.Length, nameof(confidence));
        }

        for (var i = 0; i < Tokens.Length; i++)
        {
            var masked = Tokens[i] == MaskTokenId;
            if (masked && (sampled[i] == MaskTokenId || sampled[i] < 0))
            {
                throw new ArgumentException($"Sampled token {sampled[i]} at masked position {i} is not a codebook entry.", nameof(sampled));
            }

            if ((masked || (recompete && !Known[i])) && !confidence.IsEmpty && !IsProbability(confidence[i]))
            {
                throw new ArgumentException($"Confidence {confidence[i]} at position {i} is not a probability.", nameof(confidence));
            }
        }
    }

    // Between Accept and Remask: which positions re-masking may choose. The user's tokens never compete.
    private bool IsCandidate(int position, bool recompete) => _wasMasked[position] || (recompete && !Known[position]);

    // Slightly above 1 is rounding, not an error; NaN and negatives are.
    private static bool IsProbability(float c) => c >= 0 && !float.IsInfinity(c);

    private void CheckLength(int length, string paramName)
    {
        if (length != Tokens.Length)
        {
            throw new ArgumentException($"Expected {Tokens.Length} values ({GridHeight}×{GridWidth}), got {length}.", paramName);
        }
    }
}
