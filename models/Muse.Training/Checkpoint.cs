using System.Text.Json;
using TorchSharp;

namespace Muse.Training;

/// <summary>
/// One training checkpoint file: step counter, wall seconds so far, a JSON blob of stage state,
/// the module's state_dict and the optimizer's state. Written to a temp file and renamed, so a
/// crash mid-write leaves the previous checkpoint intact.
/// </summary>
internal static class Checkpoint
{
    private const string Magic = "MUSECKPT1";

    public const string FileName = "checkpoint.bin";

    /// <summary>Writes <paramref name="dir"/>/checkpoint.bin atomically.</summary>
    public static void Save(string dir, long step, double seconds, JsonElement extra, torch.nn.Module module, torch.optim.Optimizer optimizer, IReadOnlyList<float[]>? arrays = null)
    {
        Directory.CreateDirectory(dir);
        var path = Path.Combine(dir, FileName);
        var temp = path + ".tmp";
        using (var stream = File.Create(temp))
        using (var writer = new BinaryWriter(stream))
        {
            writer.Write(Magic);
            writer.Write(step);
            writer.Write(seconds);
            writer.Write(extra.GetRawText());
            var list = arrays ?? [];
            writer.Write(list.Count);
            foreach (var array in list)
            {
                writer.Write(array.Length);
                foreach (var v in array)
                {
                    writer.Write(v);
                }
            }

            module.save(writer);
            ((TorchSharp.Modules.OptimizerHelper)optimizer).save_state_dict(writer);
        }

        File.Move(temp, path, overwrite: true);
    }

    /// <summary>
    /// Writes a checkpoint of <paramref name="module"/>'s weights alone (step 0, no optimizer state): enough for every
    /// verb that reads a trained stage (<see cref="Load"/> without an optimizer), not for <c>--resume</c>.
    /// </summary>
    public static void SaveWeights(string dir, torch.nn.Module module)
    {
        Directory.CreateDirectory(dir);
        var path = Path.Combine(dir, FileName);
        var temp = path + ".tmp";
        using (var writer = new BinaryWriter(File.Create(temp)))
        {
            writer.Write(Magic);
            writer.Write(0L);
            writer.Write(0.0);
            writer.Write("{}");
            writer.Write(0);
            module.save(writer);
        }

        File.Move(temp, path, overwrite: true);
    }

    /// <summary>True when a checkpoint exists in <paramref name="dir"/>.</summary>
    public static bool Exists(string dir) => File.Exists(Path.Combine(dir, FileName));

    /// <summary>Loads weights (and optimizer state if given) and returns (step, seconds, extra, arrays).</summary>
    public static (long Step, double Seconds, JsonElement Extra, List<float[]> Arrays) Load(string dir, torch.nn.Module module, torch.optim.Optimizer? optimizer)
    {
        using var stream = File.OpenRead(Path.Combine(dir, FileName));
        using var reader = new BinaryReader(stream);
        if (reader.ReadString() != Magic)
        {
            throw new InvalidDataException($"{dir}: not a training checkpoint.");
        }

        var step = reader.ReadInt64();
        var seconds = reader.ReadDouble();
        var extra = JsonDocument.Parse(reader.ReadString()).RootElement.Clone();
        var count = reader.ReadInt32();
        var arrays = new List<float[]>(count);
        for (var i = 0; i < count; i++)
        {
            var array = new float[reader.ReadInt32()];
            for (var j = 0; j < array.Length; j++)
            {
                array[j] = reader.ReadSingle();
            }

            arrays.Add(array);
        }

        module.load(reader);
        if (optimizer is not null)
        {
            ((TorchSharp.Modules.OptimizerHelper)optimizer).load_state_dict(reader);
        }

        return (step, seconds, extra, arrays);
    }
}
