using Muse.Hosting;
using Muse.Orchestrator.Pipelines;
using Muse.Protos.V1;

namespace Muse.Orchestrator.Generation;

/// <summary>The kind of an edit (Muse §4.3).</summary>
public enum EditMode
{
    /// <summary>Regenerate the masked region of the image.</summary>
    Inpaint,

    /// <summary>Extend the image beyond its borders.</summary>
    Outpaint,

    /// <summary>Resample random token subsets under a new prompt, in rounds.</summary>
    MaskFree,
}

/// <summary>Outpainting margins, in pixels of the input image; each ≥ 0, at least one &gt; 0.</summary>
public sealed record OutpaintMargins(int Left, int Right, int Top, int Bottom);

/// <summary>
/// A validated Edit request: the fields it shares with Generate (prompts, seed, pipeline, <see cref="DecodingSettings"/>,
/// previews; validated by the same code, so the same fields fail the same way) plus the edit's own. The image bytes
/// are still untrusted here; the <see cref="Editor"/> passes them through the upload guard.
/// </summary>
public sealed record EditSettings(
    GenerateSettings Common,
    EditMode Mode,
    ReadOnlyMemory<byte> Image,
    ReadOnlyMemory<byte> Mask,
    int Dilation,
    OutpaintMargins Margins,
    int Iterations,
    float MaskFraction,
    bool Blend)
{
    /// <summary>Default token-cell dilation of an inpainting mask.</summary>
    public const int DefaultDilation = 1;

    /// <summary>Largest dilation accepted, in token cells.</summary>
    public const int MaxDilation = 4;

    /// <summary>Default rounds of mask-free editing.</summary>
    public const int DefaultIterations = 4;

    /// <summary>Most rounds of mask-free editing.</summary>
    public const int MaxIterations = 16;

    /// <summary>Default fraction of tokens re-masked per mask-free round.</summary>
    public const float DefaultMaskFraction = 0.5f;

    /// <summary>Largest outpainting margin, as a multiple of the image's longer side.</summary>
    public const int MaxMarginFactor = 4;

    /// <summary>Validates <paramref name="request"/> (INVALID_ARGUMENT naming the field) and fills in defaults.</summary>
    public static EditSettings FromRequest(EditRequest request, PipelineCatalog catalog)
    {
        ArgumentNullException.ThrowIfNull(request);
        MuseValidation.NotEmpty(request.Image);
        var common = GenerateSettings.FromRequestFields(
            request.Prompt, request.NegativePrompt, request.HasSeed ? request.Seed : null, request.Pipeline, request.Decoding, request.PreviewEvery, [], catalog);
        var blend = !request.HasBlend || request.Blend;
        var none = new OutpaintMargins(0, 0, 0, 0);
        switch (request.ModeCase)
        {
            case EditRequest.ModeOneofCase.Inpaint:
            {
                var inpaint = request.Inpaint;
                MuseValidation.NotEmpty(inpaint.Mask, "inpaint.mask");
                var dilation = inpaint.HasDilation ? inpaint.Dilation : DefaultDilation;
                MuseValidation.InRange(dilation, 0, MaxDilation, "inpaint.dilation");
                return new EditSettings(common, EditMode.Inpaint, request.Image.Memory, inpaint.Mask.Memory, dilation, none, 0, 0, blend);
            }

            case EditRequest.ModeOneofCase.Outpaint:
            {
                var o = request.Outpaint;
                MuseValidation.Require(o.Left >= 0, "must be ≥ 0.", "outpaint.left");
                MuseValidation.Require(o.Right >= 0, "must be ≥ 0.", "outpaint.right");
                MuseValidation.Require(o.Top >= 0, "must be ≥ 0.", "outpaint.top");
                MuseValidation.Require(o.Bottom >= 0, "must be ≥ 0.", "outpaint.bottom");
                MuseValidation.Require(
                    o.Left > 0 || o.Right > 0 || o.Top > 0 || o.Bottom > 0, "needs at least one margin > 0 (left, right, top or bottom).", "outpaint");
                var margins = new OutpaintMargins(o.Left, o.Right, o.Top, o.Bottom);
                return new EditSettings(common, EditMode.Outpaint, request.Image.Memory, ReadOnlyMemory<byte>.Empty, 0, margins, 0, 0, blend);
            }

            case EditRequest.ModeOneofCase.MaskFree:
            {
                var maskFree = request.MaskFree;
                var iterations = maskFree.HasIterations ? maskFree.Iterations : DefaultIterations;
                MuseValidation.InRange(iterations, 1, MaxIterations, "mask_free.iterations");
                var fraction = maskFree.HasMaskFraction ? maskFree.MaskFraction : DefaultMaskFraction;
                MuseValidation.Require(fraction > 0 && fraction <= 1, $"must be > 0 and ≤ 1; got {fraction}.", "mask_free.mask_fraction");
                return new EditSettings(common, EditMode.MaskFree, request.Image.Memory, ReadOnlyMemory<byte>.Empty, 0, none, iterations, fraction, Blend: false);
            }

            default:
                MuseValidation.ThrowInvalidArgument("mode", "must be one of inpaint, outpaint or mask_free.");
                throw new InvalidOperationException(); // Unreachable.
        }
    }
}
