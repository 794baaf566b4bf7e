using Google.Protobuf;
using Muse.InProcess;
using Muse.Protos.V1;
using Muse.Scenes;

namespace Muse.Evaluation;

/// <summary>The Edit requests of the evaluation's editing cases, at a pipeline's output size.</summary>
public static class EditRequests
{
    /// <summary>The inpainting request of <paramref name="edit"/> on its original scene at the pipeline's size.</summary>
    public static EditRequest Inpaint(this LocalPipeline pipeline, EditCase edit, ulong seed, bool blend)
    {
        ArgumentNullException.ThrowIfNull(edit);
        return new EditRequest
        {
            Image = pipeline.ScenePng(edit.Original),
            Prompt = edit.Prompt,
            Seed = seed,
            Blend = blend,
            Inpaint = new InpaintEdit { Mask = ByteString.CopyFrom(LocalPipeline.EncodePng(edit.MaskRgb(pipeline.Size), pipeline.Size, pipeline.Size)) },
        };
    }

    /// <summary>A scene rendered at the pipeline's size as PNG bytes, the form an edit request carries.</summary>
    public static ByteString ScenePng(this LocalPipeline pipeline, SceneSpec scene)
    {
        ArgumentNullException.ThrowIfNull(pipeline);
        return ByteString.CopyFrom(LocalPipeline.EncodePng(SceneRenderer.Render(scene, pipeline.Size), pipeline.Size, pipeline.Size));
    }

    /// <summary>The outpainting request of <paramref name="edit"/>: its crop at the pipeline's size and the margin back to the square.</summary>
    public static EditRequest Outpaint(this LocalPipeline pipeline, OutpaintCase edit, ulong seed, bool blend)
    {
        ArgumentNullException.ThrowIfNull(edit);
        var (rgb, width, height) = edit.Cropped(pipeline.Size);
        var margin = OutpaintCase.Margin(pipeline.Size);
        return new EditRequest
        {
            Image = ByteString.CopyFrom(LocalPipeline.EncodePng(rgb, width, height)),
            Prompt = edit.Prompt,
            Seed = seed,
            Blend = blend,
            Outpaint = new OutpaintEdit
            {
                Left = edit.Side == OutpaintSide.Left ? margin : 0,
                Right = edit.Side == OutpaintSide.Right ? margin : 0,
                Top = edit.Side == OutpaintSide.Top ? margin : 0,
                Bottom = edit.Side == OutpaintSide.Bottom ? margin : 0,
            },
        };
    }
}
