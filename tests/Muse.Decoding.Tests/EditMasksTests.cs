using CsCheck;
using Muse.Decoding;

namespace Muse.Decoding.Tests;

public sealed class EditMasksTests
{
    [Fact]
    public void FromPixelMask_OnePixel_MasksItsCell()
    {
        var mask = new byte[8 * 8];
        mask[(2 * 8) + 5] = 255;        // x = 5, y = 2: cell column 2, row 1 of a 4×4 grid of 2×2 cells

        var cells = EditMasks.FromPixelMask(mask, 8, 8, 4, 4);

        Assert.Equal([6], Indices(cells));
    }

    [Fact]
    public void FromPixelMask_DilationOne_GrowsToNeighbourBlockClippedAtEdges()
    {
        var mask = new bool[8, 8];
        mask[2, 5] = true;      // cell (row 1, column 2)
        mask[7, 0] = true;      // cell (row 3, column 0), a corner

        var cells = EditMasks.FromPixelMask(mask, 4, 4, dilation: 1);

        // Rows 0–2 × columns 1–3 around (1, 2), and rows 2–3 × columns 0–1 around the corner.
        Assert.Equal([1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13], Indices(cells));
    }

    [Fact]
    public void FromPixelMask_SizeNotMultipleOfGrid_MapsProportionally()
    {
        var mask = new byte[10 * 1];
        mask[9] = 1;    // the last pixel of a 10-pixel row belongs to the last of 4 cells

        var cells = EditMasks.FromPixelMask(mask, 10, 1, 1, 4);

        Assert.Equal([3], Indices(cells));
    }

    [Fact]
    public void FromPixelMask_EmptyMask_MasksNothing()
    {
        var cells = EditMasks.FromPixelMask(new byte[16], 4, 4, 2, 2, dilation: 3);

        Assert.DoesNotContain(true, cells);
    }

    [Fact]
    public void RandomSubset_SameSeedAndRound_IsDeterministicAndDiffersByRound()
    {
        var first = EditMasks.RandomSubset(5, 0, 20, 64);
        var again = EditMasks.RandomSubset(5, 0, 20, 64);
        var nextRound = EditMasks.RandomSubset(5, 1, 20, 64);

        Assert.Equal(first, again);
        Assert.NotEqual(first, nextRound);
    }

    [Fact]
    public void RandomSubset_AnyCount_ChoosesExactlyThatMany()
    {
        Gen.Select(Gen.Int[0, 300], Gen.Int[0, 1000], Gen.ULong).Sample((length, share, seed) =>
        {
            var count = length * share / 1000;

            var chosen = EditMasks.RandomSubset(seed, 2, count, length);

            Assert.Equal(length, chosen.Length);
            Assert.Equal(count, chosen.Count(c => c));
        }, iter: 200);
    }

    private static int[] Indices(bool[] cells) => Enumerable.Range(0, cells.Length).Where(i => cells[i]).ToArray();
}
