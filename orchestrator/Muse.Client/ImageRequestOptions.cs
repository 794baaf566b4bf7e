using System.CommandLine;
using Muse.Protos.V1;

namespace Muse.Client;

/// <summary>
/// The options of every command that sends an image request (generate, inpaint, outpaint, edit): the seed, the
/// negative prompt, the pipeline, and the decoding options, declared here once and bound into
/// <see cref="DecodingOptions"/> once. An option left out stays unset in the request, so the server applies the
/// pipeline's default.
/// </summary>
internal sealed class ImageRequestOptions
{
    private readonly Option<ulong?> _seed = new("--seed") { Description = "Seed of all sampling noise (default: chosen by the server and reported)" };
    private readonly Option<int?> _steps = new("--steps") { Description = "Parallel decoding steps of the base model (default: the pipeline's)" };
    private readonly Option<int?> _srSteps = new("--sr-steps") { Description = "Parallel decoding steps of the super-resolution model (default: the pipeline's)" };
    private readonly Option<float?> _guidance = new("--guidance") { Description = "Classifier-free guidance scale; 1 = no guidance (default: the pipeline's)" };
    private readonly Option<string> _guidanceSchedule = GuidanceScheduleOption();
    private readonly Option<float?> _temperature = new("--temperature") { Description = "Sampling temperature of the base model; 0 = greedy (default: the pipeline's)" };
    private readonly Option<float?> _srTemperature = new("--sr-temperature") { Description = "Sampling temperature of the super-resolution model; 0 = greedy (default: the pipeline's)" };
    private readonly Option<float?> _choiceTemperature = new("--choice-temperature") { Description = "Gumbel temperature of confidence re-masking (default: the pipeline's)" };
    private readonly Option<bool> _recompete = new("--recompete")
    {
        Description = "Let committed base tokens compete again at every step (`--recompete false` turns a pipeline's default off; default: the pipeline's)",
    };

    private readonly Option<bool> _srRecompete = new("--sr-recompete")
    {
        Description = "Let committed super-resolution tokens compete again at every step (default: the pipeline's)",
    };

    private readonly Option<string> _negative = new("--negative") { Description = "Negative prompt: what to steer away from", DefaultValueFactory = _ => "" };
    private readonly Option<string> _pipeline = new("--pipeline") { Description = "Pipeline from `muse models` (default: the server's default pipeline)", DefaultValueFactory = _ => "" };

    /// <summary>Adds the options to <paramref name="command"/>, in the order its help lists them.</summary>
    public void AddTo(Command command)
    {
        foreach (var option in new Option[] { _seed, _steps, _srSteps, _guidance, _guidanceSchedule, _temperature, _srTemperature, _choiceTemperature, _recompete, _srRecompete, _negative, _pipeline })
        {
            command.Options.Add(option);
        }
    }

    /// <summary>The seed given, or null for the server to choose one.</summary>
    public ulong? Seed(ParseResult parseResult) => parseResult.GetValue(_seed);

    /// <summary>The negative prompt; empty = none.</summary>
    public string NegativePrompt(ParseResult parseResult) => parseResult.GetValue(_negative) ?? "";

    /// <summary>The pipeline; empty = the server's default.</summary>
    public string Pipeline(ParseResult parseResult) => parseResult.GetValue(_pipeline) ?? "";

    /// <summary>The decoding options given on the command line; the others stay unset.</summary>
    public DecodingOptions Decoding(ParseResult parseResult)
    {
        var decoding = new DecodingOptions
        {
            GuidanceSchedule = parseResult.GetValue(_guidanceSchedule) == "linear" ? GuidanceSchedule.Linear : GuidanceSchedule.Constant,
        };
        SetIfGiven(parseResult.GetValue(_steps), v => decoding.BaseSteps = v);
        SetIfGiven(parseResult.GetValue(_srSteps), v => decoding.SrSteps = v);
        SetIfGiven(parseResult.GetValue(_guidance), v => decoding.GuidanceScale = v);
        SetIfGiven(parseResult.GetValue(_temperature), v => decoding.SamplingTemperature = v);
        SetIfGiven(parseResult.GetValue(_srTemperature), v => decoding.SrSamplingTemperature = v);
        SetIfGiven(parseResult.GetValue(_choiceTemperature), v => decoding.ChoiceTemperature = v);
        SetIfGiven(Given(parseResult, _recompete), v => decoding.Recompete = v);
        SetIfGiven(Given(parseResult, _srRecompete), v => decoding.SrRecompete = v);
        return decoding;
    }

    /// <summary>Calls <paramref name="set"/> with the value when the option was given.</summary>
    public static void SetIfGiven<T>(T? value, Action<T> set)
        where T : struct
    {
        if (value is { } given)
        {
            set(given);
        }
    }

    // A flag's value only when it is on the command line: `--recompete` alone is true, and absent stays unset.
    private static bool? Given(ParseResult parseResult, Option<bool> flag) =>
        parseResult.GetResult(flag) is null ? null : parseResult.GetValue(flag);

    private static Option<string> GuidanceScheduleOption()
    {
        var option = new Option<string>("--guidance-schedule")
        {
            Description = "How the guidance scale varies over the steps",
            DefaultValueFactory = _ => "constant",
        };
        option.AcceptOnlyFromAmong("constant", "linear");
        return option;
    }
}
