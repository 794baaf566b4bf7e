using System.CommandLine;
using Muse.Protos.V1;

namespace Muse.Client;

/// <summary><c>muse outpaint IMAGE --left/--right/--top/--bottom PX "PROMPT"</c>: extend an image beyond its borders.</summary>
public static class OutpaintCommand
{
    public static Command Create()
    {
        var image = new Argument<string>("image") { Description = "PNG or JPEG to extend (any aspect ratio)" };
        var prompt = new Argument<string>("prompt") { Description = "What the new area should show" };
        Option<int> Margin(string side) => new($"--{side}") { Description = $"Pixels (of the input image) to add on the {side}", DefaultValueFactory = _ => 0 };
        var (left, right, top, bottom) = (Margin("left"), Margin("right"), Margin("top"), Margin("bottom"));
        var noBlend = new Option<bool>("--no-blend") { Description = "Return the decoded pixels over the original too, instead of the original's" };
        var runner = new EditRunner();
        var command = new Command(
            "outpaint",
            "Extend an image: the canvas (image + margins) is scaled to fit the output square and centred; everything but the image is generated")
        {
            image, prompt, left, right, top, bottom, noBlend,
        };
        runner.AddTo(command);
        command.SetAction((parseResult, cancellationToken) =>
        {
            var imagePath = parseResult.GetRequiredValue(image);
            return runner.RunAsync(parseResult, "outpaint", imagePath, () =>
            {
                var request = runner.Request(parseResult, imagePath, parseResult.GetRequiredValue(prompt));
                request.Outpaint = new OutpaintEdit
                {
                    Left = parseResult.GetValue(left),
                    Right = parseResult.GetValue(right),
                    Top = parseResult.GetValue(top),
                    Bottom = parseResult.GetValue(bottom),
                };
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
