using System.CommandLine;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using Muse.Client;
using Muse.Evaluation;
using Spectre.Console;

namespace Muse.Cli;

/// <summary><c>muse eval</c>: a pipeline on the held-out synthetic scenes (reconstruction, SR gain, prompt adherence
/// overall and by object count).</summary>
internal static class EvalCommand
{
    private static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = true };

    public static Command Create()
    {
        var prompts = new Option<int?>("--prompts") { Description = $"Held-out prompts per adherence point (default 40; {EvalOptions.HardPrompts} for --draw hard)" };
        var draw = new Option<PromptDraw>("--draw")
        {
            Description = "Prompts of the adherence rows: default (the data set's mix), or hard (mostly two-object prompts with sizes and " +
                $"backgrounds, small shapes in corners; --seed {EvalOptions.HardValidationSeed} is its validation draw, --seed {EvalOptions.HardTestSeed} its test draw, never tuned on)",
            DefaultValueFactory = _ => PromptDraw.Default,
        };
        var defaultsOnly = new Option<bool>("--defaults-only") { Description = "Measure adherence only at the pipeline's defaults (no steps curve, no guidance rows)" };
        var failures = new Option<bool>("--failures") { Description = "List the prompts failed at the defaults: what was wrong, what the checker found" };
        var json = new Option<bool>("--json") { Description = "Print the result as one JSON object on stdout, failures at the defaults included" };
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
            prompts, draw, scenes, edits, pipeline, seed, defaultsOnly, failures, json, recompete,
        };
        command.SetAction((parseResult, cancellationToken) => CommandRunner.RunAsync(
            async ct =>
            {
                var promptDraw = parseResult.GetValue(draw);
                var options = new EvalOptions
                {
                    Prompts = parseResult.GetValue(prompts) ?? (promptDraw == PromptDraw.Hard ? EvalOptions.HardPrompts : 40),
                    Draw = promptDraw,
                    Scenes = parseResult.GetValue(scenes),
                    Edits = parseResult.GetValue(edits),
                    Pipeline = parseResult.GetValue(pipeline),
                    Seed = parseResult.GetValue(seed),
                    Recompete = parseResult.GetResult(recompete) is null ? null : parseResult.GetValue(recompete),
                };
                if (parseResult.GetValue(defaultsOnly))
                {
                    options = options with { StepCurve = [], GuidanceScales = [] };
                }

                var result = await ModelEval.RunAsync(options, ct);
                if (parseResult.GetValue(json))
                {
                    Console.Out.WriteLine(ToJson(result, options));
                    return 0;
                }

                Render(result, options);
                if (parseResult.GetValue(failures))
                {
                    RenderFailures(result.AtDefaults);
                }

                return 0;
            },
            cancellationToken));
        return command;
    }

    private static void Render(EvalResult result, EvalOptions options)
    {
        string Db(double value) => value.ToString("0.00", CultureInfo.InvariantCulture) + " dB";
        static string Share(PromptTally tally) =>
            $"{tally.Adherence.ToString("0.0%", CultureInfo.InvariantCulture)} ({tally.Correct}/{tally.Prompts})";
        var machine = $"{Environment.ProcessorCount} cores, {RuntimeInformation.OSDescription}";
        var metrics = new Table().Border(TableBorder.Rounded)
            .Title($"pipeline {Markup.Escape(result.Pipeline)} ({(result.Trained ? "trained" : "NOT trained")}) on {Markup.Escape(machine)}")
            .AddColumns("metric", "value");
        metrics.AddRow("VQ reconstruction PSNR, 64 px", Db(result.VqPsnr64));
        metrics.AddRow($"VQ reconstruction PSNR, {result.FinalSize} px", Db(result.VqPsnrFinal));
        metrics.AddRow($"SR PSNR at {result.FinalSize} px (from true 64 px tokens)", Db(result.SrPsnr));
        metrics.AddRow("bicubic PSNR (same 64 px reconstruction)", Db(result.BicubicPsnr));
        metrics.AddRow("SR gain over bicubic", Db(result.SrGain));
        metrics.AddRow($"scene checker on the true scenes: VQ reconstruction at {result.FinalSize} px", Share(result.Ceiling.Reconstruction));
        metrics.AddRow($"scene checker on the true scenes: SR from true 64 px tokens", Share(result.Ceiling.SuperResolution));
        metrics.AddRow($"scene checker on the true scenes: bicubic of the 64 px reconstruction", Share(result.Ceiling.Bicubic));
        metrics.AddRow(
            "inpainting: new object right, rest of the scene right",
            $"{result.Inpainting.Success.ToString("0.0%", CultureInfo.InvariantCulture)} ({result.Inpainting.Correct}/{result.Inpainting.Cases})");
        metrics.AddRow("inpainting: PSNR outside the mask (not blended back)", Db(result.Inpainting.PsnrOutsideMask));
        metrics.AddRow(
            "outpainting: cropped third restored, whole scene right",
            $"{result.Outpainting.Success.ToString("0.0%", CultureInfo.InvariantCulture)} ({result.Outpainting.Correct}/{result.Outpainting.Cases})");
        metrics.AddRow("outpainting: PSNR of the kept part (not blended back)", Db(result.Outpainting.PsnrOutsideMask));
        var defaults = result.AtDefaults;
        var at = $"{options.Draw.ToString().ToLowerInvariant()} draw, --seed {options.Seed}; defaults: {defaults.BaseSteps} steps, guidance " +
            defaults.GuidanceScale.ToString("0.##", CultureInfo.InvariantCulture);
        metrics.AddRow($"prompt adherence ({Markup.Escape(at)})", Share(new(defaults.Correct, defaults.Prompts)));
        metrics.AddRow("prompt adherence, one-object prompts", Share(defaults.OneObject));
        metrics.AddRow("prompt adherence, two-object prompts", Share(defaults.TwoObjects));
        metrics.AddRow("images/s (in-process, generation)", result.ImagesPerSecond.ToString("0.00", CultureInfo.InvariantCulture));
        AnsiConsole.Write(metrics);

        var adherence = new Table().Border(TableBorder.Rounded).Title("prompt adherence (all attributes right)")
            .AddColumns("base steps", "guidance", "adherence", "one object", "two objects");
        foreach (var point in result.StepCurve.Concat(result.Guidance).Distinct())
        {
            adherence.AddRow(
                point.BaseSteps.ToString(CultureInfo.InvariantCulture),
                point.GuidanceScale.ToString("0.##", CultureInfo.InvariantCulture),
                Share(new(point.Correct, point.Prompts)),
                Share(point.OneObject),
                Share(point.TwoObjects));
        }

        if (adherence.Rows.Count > 0)
        {
            AnsiConsole.Write(adherence);
        }
    }

    /// <summary>
    /// The result as one JSON object: the PSNR rows in dB, <c>adherence</c> with the point at the defaults (and its
    /// failures), the steps curve and the guidance rows, each as <c>all</c>, <c>one_object</c> and <c>two_objects</c>
    /// tallies, and the editing rows.
    /// </summary>
    internal static string ToJson(EvalResult result, EvalOptions options)
    {
        static double Db(double value) => Math.Round(value, 3);
        static object Tally(PromptTally t) => new { correct = t.Correct, prompts = t.Prompts };
        static object Point(AdherencePoint p) => new
        {
            base_steps = p.BaseSteps,
            guidance = p.GuidanceScale,
            all = Tally(new(p.Correct, p.Prompts)),
            one_object = Tally(p.OneObject),
            two_objects = Tally(p.TwoObjects),
        };
        static object Edit(EditRow e) => new { correct = e.Correct, cases = e.Cases, psnr_kept = Db(e.PsnrOutsideMask) };
        var summary = new
        {
            pipeline = result.Pipeline,
            trained = result.Trained,
            machine = $"{Environment.ProcessorCount} cores, {RuntimeInformation.OSDescription}, {RuntimeInformation.ProcessArchitecture}",
            draw = options.Draw.ToString().ToLowerInvariant(),
            seed = options.Seed,
            vq_psnr_64 = Db(result.VqPsnr64),
            final_size = result.FinalSize,
            vq_psnr_final = Db(result.VqPsnrFinal),
            sr_psnr = Db(result.SrPsnr),
            bicubic_psnr = Db(result.BicubicPsnr),
            checker_on_true_scenes = new
            {
                reconstruction = Tally(result.Ceiling.Reconstruction),
                sr = Tally(result.Ceiling.SuperResolution),
                bicubic = Tally(result.Ceiling.Bicubic),
            },
            adherence = new
            {
                defaults = Point(result.AtDefaults),
                failures = result.AtDefaults.Failures.Select(f => new { index = f.Index, prompt = f.Caption, wrong = f.Faults, found = f.Found }),
                steps_curve = result.StepCurve.Select(Point),
                guidance = result.Guidance.Select(Point),
            },
            inpainting = Edit(result.Inpainting),
            outpainting = Edit(result.Outpainting),
            images_per_second = Math.Round(result.ImagesPerSecond, 3),
        };
        return JsonSerializer.Serialize(summary, JsonOptions);
    }

    private static void RenderFailures(AdherencePoint point)
    {
        var table = new Table().Border(TableBorder.Rounded).Title($"prompts failed at the defaults ({point.Prompts - point.Correct})")
            .AddColumns("#", "prompt", "wrong", "found");
        foreach (var failure in point.Failures)
        {
            table.AddRow(
                failure.Index.ToString(CultureInfo.InvariantCulture),
                Markup.Escape(failure.Caption),
                Markup.Escape(string.Join(", ", failure.Faults)),
                Markup.Escape(string.Join("; ", failure.Found)));
        }

        AnsiConsole.Write(table);
    }
}
