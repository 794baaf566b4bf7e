using System.Text.Json;

namespace Muse.Training.Stages;

/// <summary>
/// A stage folder's <c>metrics.json</c>, read in one place: the run's record (seed, steps, wall seconds), the
/// training it started from (<c>initSteps</c>/<c>initSeconds</c>: the encoder a decoder-only VQGAN run kept, the base a text+base run or the SR an SR run started from;
/// <c>textSteps</c>/<c>textSeconds</c>: the T5 of a text+base run, counting <c>--init-text</c>), and the rest, which
/// are measurements.
/// </summary>
internal sealed class StageMetrics
{
    private static readonly HashSet<string> Bookkeeping = ["seed", "steps", "seconds", "initSteps", "initSeconds", "textSteps", "textSeconds"];

    private readonly Dictionary<string, double> _numbers;

    private StageMetrics(ulong? seed, Dictionary<string, double> numbers)
    {
        Seed = seed;
        _numbers = numbers;
    }

    /// <summary>The seed the stage was trained with; null for folders trained before it was recorded.</summary>
    public ulong? Seed { get; }

    /// <summary>This run's steps and wall seconds.</summary>
    public (long Steps, double Seconds) Run => ((long)Number("steps"), Number("seconds"));

    /// <summary>
    /// Everything behind the stage: this run plus the run it started from (the encoder and codebook a decoder-only
    /// VQGAN run kept; the T5 and base a text+base run was initialised from with <c>--init-from</c>).
    /// </summary>
    public (long Steps, double Seconds) Training => ((long)(Number("steps") + Number("initSteps")), Number("seconds") + Number("initSeconds"));

    /// <summary>Everything behind a text+base folder's T5: its own record, or (older folders) the run's.</summary>
    public (long Steps, double Seconds) TextTraining => Number("textSteps") > 0 ? ((long)Number("textSteps"), Number("textSeconds")) : Run;

    /// <summary>The measurements (held-out loss, PSNR, checker scores…), without the bookkeeping above.</summary>
    public Dictionary<string, double> Measurements => _numbers.Where(n => !Bookkeeping.Contains(n.Key)).ToDictionary();

    /// <summary>The numbers of <paramref name="dir"/>'s metrics.json; none when it has none (a run that never finished).</summary>
    public static StageMetrics Read(string dir)
    {
        var path = Path.Combine(dir, "metrics.json");
        var numbers = new Dictionary<string, double>();
        ulong? seed = null;
        if (File.Exists(path))
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(path));
            foreach (var property in doc.RootElement.EnumerateObject().Where(p => p.Value.ValueKind == JsonValueKind.Number))
            {
                numbers[property.Name] = property.Value.GetDouble();
                if (property.Name == "seed")
                {
                    seed = property.Value.GetUInt64();
                }
            }
        }

        return new StageMetrics(seed, numbers);
    }

    /// <summary>As <see cref="Read"/>, for a folder a new run starts from: without metrics.json its training is unknown.</summary>
    public static StageMetrics Require(string dir) =>
        File.Exists(Path.Combine(dir, "metrics.json"))
            ? Read(dir)
            : throw new FileNotFoundException($"{dir}: no metrics.json, so the training it carries is unknown.", Path.Combine(dir, "metrics.json"));

    private double Number(string name) => _numbers.GetValueOrDefault(name);
}
