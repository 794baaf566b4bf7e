using Muse.Evaluation;
using Muse.Scenes;

namespace Muse.Evaluation.Tests;

public sealed class EditCaseTests
{
    private const int Size = 128;

    [Fact]
    public void HeldOut_SameSeed_SameCases()
    {
        Assert.Equal(EditCase.HeldOut(8, 5), EditCase.HeldOut(8, 5), new EditCaseComparer());
    }

    [Fact]
    public void HeldOut_ChangesOneObjectsColourAndShapeOnly()
    {
        foreach (var edit in EditCase.HeldOut(32, 1))
        {
            var before = edit.Original.Objects[edit.ObjectIndex];
            var after = edit.Edited.Objects[edit.ObjectIndex];

            Assert.Equal(edit.Original.Background, edit.Edited.Background);
            Assert.Equal((before.Size, before.Position), (after.Size, after.Position));
            Assert.NotEqual(before.Shape, after.Shape);
            Assert.DoesNotContain(edit.Original.Objects, o => o.Colour == after.Colour);
            Assert.All(
                Enumerable.Range(0, edit.Original.Objects.Count).Where(i => i != edit.ObjectIndex),
                i => Assert.Equal(edit.Original.Objects[i], edit.Edited.Objects[i]));
            Assert.Equal(SceneDescription.Of(edit.Edited), Captions.Parse(edit.Prompt));
        }
    }

    [Fact]
    public void Mask_CoversTheObject_SoAPerfectInpaintingPassesTheChecker()
    {
        foreach (var edit in EditCase.HeldOut(32, 2))
        {
            var original = SceneRenderer.Render(edit.Original, Size);
            var target = SceneRenderer.Render(edit.Edited, Size);
            var mask = edit.Mask(Size);
            var composed = (byte[])original.Clone();
            for (var p = 0; p < mask.Length; p++)
            {
                if (mask[p])
                {
                    target.AsSpan(p * 3, 3).CopyTo(composed.AsSpan(p * 3, 3));
                }
            }

            Assert.Equal(target, composed);   // nothing of the change lies outside the mask
            Assert.True(SceneChecker.Check(composed, Size, SceneDescription.Of(edit.Edited)).AllCorrect, edit.Prompt);
            Assert.False(SceneChecker.Check(original, Size, SceneDescription.Of(edit.Edited)).AllCorrect, edit.Prompt);
            Assert.InRange(mask.Count(m => m), 1, mask.Length / 4);
        }
    }

    [Fact]
    public void MaskRgb_IsWhiteWhereTheMaskIsSet()
    {
        var edit = EditCase.HeldOut(1, 3)[0];
        var mask = edit.Mask(Size);
        var rgb = edit.MaskRgb(Size);

        Assert.All(Enumerable.Range(0, mask.Length), p => Assert.Equal(mask[p] ? 255 : 0, rgb[(p * 3) + 1]));
    }

    [Fact]
    public void Outpaint_CroppedThirdHoldsOneWholeObject_SoTheCropFailsAndTheSceneIsTheTarget()
    {
        var margin = OutpaintCase.Margin(Size);
        foreach (var edit in OutpaintCase.HeldOut(24, 4))
        {
            var full = SceneRenderer.Render(edit.Scene, Size);
            var (rgb, width, height) = edit.Cropped(Size);
            var vertical = edit.Side is OutpaintSide.Left or OutpaintSide.Right;
            Assert.Equal(vertical ? (Size - margin, Size) : (Size, Size - margin), (width, height));

            // The crop on the background where it came from: one object is gone, the rest is the scene.
            var canvas = edit.CroppedOnCanvas(Size, SceneGeometry.Rgb(edit.Scene.Background));
            var kept = edit.NewArea(Size);
            Assert.All(Enumerable.Range(0, Size * Size).Where(p => !kept[p]), p => Assert.Equal(full[p * 3], canvas[p * 3]));
            Assert.Single(SceneChecker.Analyze(canvas, Size).Objects);
            Assert.True(SceneChecker.Check(full, Size, SceneDescription.Of(edit.Scene)).AllCorrect, edit.Prompt);
            Assert.Equal(SceneDescription.Of(edit.Scene), Captions.Parse(edit.Prompt));
        }
    }

    private sealed class EditCaseComparer : IEqualityComparer<EditCase>
    {
        public bool Equals(EditCase? x, EditCase? y) =>
            x is not null && y is not null && x.Original.Equals(y.Original) && x.Edited.Equals(y.Edited)
            && x.Prompt == y.Prompt && x.ObjectIndex == y.ObjectIndex;

        public int GetHashCode(EditCase obj) => obj.Prompt.GetHashCode(StringComparison.Ordinal);
    }
}
