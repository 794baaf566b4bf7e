namespace Muse.Decoding;

/// <summary>
/// Which tokens an edit regenerates (Muse §4.3): from a pixel mask for inpainting and outpainting, or a
/// seeded random subset for mask-free editing. The results feed <see cref="TokenState.ForEditing"/>.
/// </summary>
public static class EditMasks
{
    /// <summary>
    /// Maps a pixel mask onto the token grid: a token is masked when any pixel of its cell is set, then the
    /// masked region grows by <paramref name="dilation"/> cells in every direction (8-neighbourhood), so the
    /// tokens bordering the edit can change to blend it in. A pixel (x, y) lies in cell
    /// (⌊x·w / width⌋, ⌊y·h / height⌋), which also covers sizes that are not multiples of the grid.
    /// </summary>
    /// <param name="mask">[height, width] row-major; non-zero = regenerate this pixel.</param>
    /// <param name="width">Image width in pixels.</param>
    /// <param name="height">Image height in pixels.</param>
    /// <param name="gridHeight">Token rows h (≤ height).</param>
    /// <param name="gridWidth">Token columns w (≤ width).</param>
    /// <param name="dilation">Cells to grow the region by, ≥ 0. Default 0.</param>
    /// <returns>[h, w] row-major, true = masked.</returns>
    public static bool[] FromPixelMask(ReadOnlySpan<byte> mask, int width, int height, int gridHeight, int gridWidth, int dilation = 0)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(gridHeight, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(gridWidth, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(width, gridWidth);
        ArgumentOutOfRangeException.ThrowIfLessThan(height, gridHeight);
        ArgumentOutOfRangeException.ThrowIfNegative(dilation);
        if (mask.Length != (long)width * height)
        {
            throw new ArgumentException($"Expected {width}×{height} mask pixels, got {mask.Length}.", nameof(mask));
        }

        var cells = new bool[gridHeight * gridWidth];   // [h, w]
        for (var y = 0; y < height; y++)
        {
            var row = (int)((long)y * gridHeight / height);
            for (var x = 0; x < width; x++)
            {
                if (mask[(y * width) + x] != 0)
                {
                    cells[(row * gridWidth) + (int)((long)x * gridWidth / width)] = true;
                }
            }
        }

        return Dilate(cells, gridHeight, gridWidth, dilation);
    }

    /// <summary><see cref="FromPixelMask(ReadOnlySpan{byte}, int, int, int, int, int)"/> for a [height, width] boolean mask.</summary>
    public static bool[] FromPixelMask(bool[,] mask, int gridHeight, int gridWidth, int dilation = 0)
    {
        ArgumentNullException.ThrowIfNull(mask);
        var height = mask.GetLength(0);
        var width = mask.GetLength(1);
        var bytes = new byte[width * height];
        for (var y = 0; y < height; y++)
        {
            for (var x = 0; x < width; x++)
            {
                bytes[(y * width) + x] = mask[y, x] ? (byte)1 : (byte)0;
            }
        }

        return FromPixelMask(bytes, width, height, gridHeight, gridWidth, dilation);
    }

    /// <summary>
    /// Chooses exactly <paramref name="count"/> of <paramref name="length"/> positions, uniformly and as a pure
    /// function of (<paramref name="seed"/>, <paramref name="round"/>): each position draws
    /// <c>U(seed, Edit, round, position, EditMask)</c> and the lowest draws win (ties by position).
    /// </summary>
    /// <param name="seed">The image's seed.</param>
    /// <param name="round">The mask-free editing round, ≥ 0; each round picks a fresh subset.</param>
    /// <param name="count">Positions to choose, 0 to <paramref name="length"/>.</param>
    /// <param name="length">Tokens in the grid, N.</param>
    /// <returns>[N] true = chosen (to be re-masked).</returns>
    public static bool[] RandomSubset(ulong seed, int round, int count, int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(round);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, length);
        var draws = new double[length];     // [N]
        var order = new int[length];        // [N]
        for (var i = 0; i < length; i++)
        {
            draws[i] = CounterRng.Uniform(seed, DecodeStage.Edit, round, i, RngPurpose.EditMask);
            order[i] = i;
        }

        Array.Sort(order, (a, b) => draws[a] != draws[b] ? draws[a].CompareTo(draws[b]) : a.CompareTo(b));
        var chosen = new bool[length];
        for (var k = 0; k < count; k++)
        {
            chosen[order[k]] = true;
        }

        return chosen;
    }

    private static bool[] Dilate(bool[] cells, int gridHeight, int gridWidth, int dilation)
    {
        if (dilation == 0)
        {
            return cells;
        }

        var grown = new bool[cells.Length];
        for (var row = 0; row < gridHeight; row++)
        {
            for (var column = 0; column < gridWidth; column++)
            {
                if (!cells[(row * gridWidth) + column])
                {
                    continue;
                }

                for (var r = Math.Max(0, row - dilation); r <= Math.Min(gridHeight - 1, row + dilation); r++)
                {
                    for (var c = Math.Max(0, column - dilation); c <= Math.Min(gridWidth - 1, column + dilation); c++)
                    {
                        grown[(r * gridWidth) + c] = true;
                    }
                }
            }
        }

        return grown;
    }
}
