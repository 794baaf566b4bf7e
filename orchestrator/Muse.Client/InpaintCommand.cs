using System.CommandLine;
using Google.Protobuf;
using Muse.Protos.V1;

namespace Muse.Client;

/// <summary><c>muse inpaint IMAGE MASK "PROMPT"</c>: regenerate the white part of the mask, keep the rest.</summary>
public static class InpaintCommand
{
    public static Command Create()
    {
        var image = new Argument<string>("image") { Description = "PNG or JPEG to edit (square; resized to the pipeline's output size: `muse models` lists it)" };
        var mask = new Argument<string>("mask") { Description = "PNG or JPEG of the image's size: white = regenerate, black = keep" };
        var prompt = new Argument<string>("prompt") { Description = "What the regenerated region should show" };
        var dilation = new Option<int?>("--dilation") { Description = "Token cells the masked region grows by, 0 to 4 (default 1)" };
        var noBlend = new Option<bool>("--no-blend") { Description = "Return the decoded pixels outside the mask too, instead of the original's" };
        var runner = new EditRunner();
        var command = new Command("inpaint", "Regenerate the masked region of an image under a prompt") { image, mask, prompt, dilation, noBlend };
        runner.AddTo(command);
        command.SetAction((parseResult, cancellationToken) =>
        {
            var imagePath = parseResult.GetRequiredValue(image);
            return runner.RunAsync(parseResult, "inpaint", imagePath, () =>
            {
                var request = runner.Request(parseResult, imagePath, parseResult.GetRequiredValue(prompt));
                request.Inpaint = new InpaintEdit { Mask = ByteString.CopyFrom(EditRunner.ReadInput(parseResult.GetRequiredValue(mask))) };
                if (parseResult.GetValue(dilation) is { } cells)
                {
                    request.Inpaint.Dilation = cells;
                }

                if (parseResult.GetValue(noBlend))
                {
                    request.Blend = false;
                }

                return request;
            }, cancellationToken);
        });
        return command;
    }
}
