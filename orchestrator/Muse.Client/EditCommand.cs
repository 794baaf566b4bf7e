using System.CommandLine;
using Muse.Protos.V1;

namespace Muse.Client;

/// <summary><c>muse edit IMAGE "NEW PROMPT" [--iterations N]</c>: mask-free editing in rounds.</summary>
public static class EditCommand
{
    public static Command Create()
    {
        var image = new Argument<string>("image") { Description = "PNG or JPEG to edit (square; resized to the output size)" };
        var prompt = new Argument<string>("prompt") { Description = "The new description of the whole image" };
        var iterations = new Option<int?>("--iterations") { Description = "Rounds of re-masking and resampling, 1 to 16 (default 4)" };
        var fraction = new Option<float?>("--mask-fraction") { Description = "Fraction of the tokens re-masked per round, (0, 1] (default 0.5)" };
        var runner = new EditRunner();
        var command = new Command("edit", "Mask-free editing: resample random token subsets under a new prompt, in rounds") { image, prompt, iterations, fraction };
        runner.AddTo(command);
        command.SetAction((parseResult, cancellationToken) =>
        {
            var imagePath = parseResult.GetRequiredValue(image);
            return runner.RunAsync(parseResult, "edit", imagePath, () =>
            {
                var request = runner.Request(parseResult, imagePath, parseResult.GetRequiredValue(prompt));
                request.MaskFree = new MaskFreeEdit();
                if (parseResult.GetValue(iterations) is { } rounds)
                {
                    request.MaskFree.Iterations = rounds;
                }

                if (parseResult.GetValue(fraction) is { } share)
                {
                    request.MaskFree.MaskFraction = share;
                }

                return request;
            }, cancellationToken);
        });
        return command;
    }
}
