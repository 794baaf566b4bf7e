using System.CommandLine;
using System.Globalization;
using System.Runtime.InteropServices;
using Muse.Client;
using Muse.Evaluation;
using Spectre.Console;

namespace Muse.Cli;

/// <summary><c>muse eval</c>: a pipeline on the held-out synthetic scenes (reconstruction, SR gain, prompt adherence).</summary>
internal static class EvalCommand
{
    public static Command Create()
    {
        var prompts = new Option<int>("--prompts") { Description = "Held-out prompts per adherence point", DefaultValueFactory = _ => 40 };
        var scenes = new Option<int>("--scenes") { Description = "Held-out scenes for the PSNR rows", DefaultValueFactory = _ => 40 };
        var edits = new Option<int>("--edits") { Description = "Held-out scenes of each editing row (inpainting, outpainting)", DefaultValueFactory = _ => 24 };
        var pipeline = new Option<string?>("--pipeline") { Description = "Pipeline to evaluate (default: the default pipeline)" };
        var seed = new Option<ulong>("--seed")
        {
            Description = "Picks the held-out scenes, prompts and edits, and seeds their decoding. Report with the default; tune settings with another (a validation draw)",
            DefaultValueFactory = _ => 1,
        };
        var recompete = new Option<bool>("--recompete")
        {
            Description = "Let committed base tokens compete again in the adherence and editing rows (`--recompete false` turns a pipeline's default off; default: the pipeline's)",
        };
        var command = new Command("eval", "Evaluate a pipeline on held-out synthetic scenes: VQ PSNR, SR gain over bicubic, prompt adherence vs steps and guidance")
        {
            prompts, scenes, edits, pipeline, seed, recompete,
        };
        command.SetAction((parseResult, cancellationToken) => CommandRunner.RunAsync(
            async ct =>
            {
                var options = new EvalOptions
                {
                    Prompts = parseResult.GetValue(prompts),
                    Scenes = parseResult.GetValue(scenes),
                    Edits = parseResult.GetValue(edits),
                    Pipeline = parseResult.GetValue(pipeline),
                    Seed = parseResult.GetValue(seed),
                    Recompete = parseResult.GetResult(recompete) is null ? null : parseResult.GetValue(recompete),
                };
                var result = await ModelEval.RunAsync(options, ct);
                Render(result);
                return 0;
            },
            cancellationToken));
        return command;
    }

    private static void Render(EvalResult result)
    {
        string Db(double value) => value.ToString("0.00", CultureInfo.InvariantCulture) + " dB";
        var machine = $"{Environment.ProcessorCount} cores, {RuntimeInformation.OSDescription}";
        var metrics = new Table().Border(TableBorder.Rounded)
            .Title($"pipeline {Markup.Escape(result.Pipeline)} ({(result.Trained ? "trained" : "NOT trained")}) on {Markup.Escape(machine)}")
            .AddColumns("metric", "value");
        metrics.AddRow("VQ reconstruction PSNR, 64 px", Db(result.VqPsnr64));
        metrics.AddRow("VQ reconstruction PSNR, 128 px", Db(result.VqPsnr128));
        metrics.AddRow("SR PSNR (from true 64 px tokens)", Db(result.SrPsnr));
        metrics.AddRow("bicubic PSNR (same 64 px reconstruction)", Db(result.BicubicPsnr));
        metrics.AddRow("SR gain over bicubic", Db(result.SrGain));
        metrics.AddRow(
            "inpainting: new object right, rest of the scene right",
            $"{result.Inpainting.Success.ToString("0.0%", CultureInfo.InvariantCulture)} ({result.Inpainting.Correct}/{result.Inpainting.Cases})");
        metrics.AddRow("inpainting: PSNR outside the mask (not blended back)", Db(result.Inpainting.PsnrOutsideMask));
        metrics.AddRow(
            "outpainting: cropped third restored, whole scene right",
            $"{result.Outpainting.Success.ToString("0.0%", CultureInfo.InvariantCulture)} ({result.Outpainting.Correct}/{result.Outpainting.Cases})");
        metrics.AddRow("outpainting: PSNR of the kept part (not blended back)", Db(result.Outpainting.PsnrOutsideMask));
        metrics.AddRow("images/s (in-process, generation)", result.ImagesPerSecond.ToString("0.00", CultureInfo.InvariantCulture));
        AnsiConsole.Write(metrics);

        var adherence = new Table().Border(TableBorder.Rounded).Title("prompt adherence (all attributes right)")
            .AddColumns("base steps", "guidance", "adherence");
        foreach (var point in result.StepCurve.Concat(result.Guidance).Distinct())
        {
            adherence.AddRow(
                point.BaseSteps.ToString(CultureInfo.InvariantCulture),
                point.GuidanceScale.ToString("0.##", CultureInfo.InvariantCulture),
                $"{point.Adherence.ToString("0.0%", CultureInfo.InvariantCulture)} ({point.Correct}/{point.Prompts})");
        }

        AnsiConsole.Write(adherence);
    }
}
