using System.Text.Json;
using Muse.Training.Nn;
using static TorchSharp.torch;

namespace Muse.Training.Stages;

/// <summary>Loading earlier stages' results and caching derived data in a stage folder.</summary>
internal static class StageIo
{
    /// <summary>Reads <paramref name="path"/> when resuming and it exists; otherwise creates the config and writes it.</summary>
    public static T ReadOrCreate<T>(string path, bool resume, Func<T> create)
    {
        if (resume && File.Exists(path))
        {
            return JsonSerializer.Deserialize<T>(File.ReadAllText(path), ConfigJson.Options)!;
        }

        var config = create();
        File.WriteAllText(path, JsonSerializer.Serialize(config, ConfigJson.Options));
        return config;
    }

    public static T ReadConfig<T>(string path) =>
        JsonSerializer.Deserialize<T>(File.ReadAllText(path), ConfigJson.Options)
        ?? throw new InvalidDataException($"{path}: empty config.");

    /// <summary>The transformer config (base or SR) of the stage folder <paramref name="dir"/>.</summary>
    public static TransformerConfig ReadTransformerConfig(string dir) =>
        ReadConfig<TransformerConfig>(Path.Combine(dir, "config.json"));

    /// <summary>The trained VQGAN of <paramref name="dir"/> (config.json + checkpoint), in eval mode.</summary>
    public static Vqgan LoadVqgan(string dir)
    {
        var model = new Vqgan(ReadConfig<VqganConfig>(Path.Combine(dir, "config.json")));
        Checkpoint.Load(dir, model, null);
        model.eval();
        return model;
    }

    /// <summary>The jointly trained text encoder and base transformer of <paramref name="dir"/>, in eval mode.</summary>
    public static TextBase LoadTextBase(string dir)
    {
        var model = new TextBase(
            ReadConfig<T5Config>(Path.Combine(dir, "t5.config.json")),
            ReadTransformerConfig(dir));
        Checkpoint.Load(dir, model, null);
        model.eval();
        return model;
    }

    /// <summary>The text encoder trained with the base transformer, frozen.</summary>
    public static T5Encoder LoadT5(string dir)
    {
        var t5 = LoadTextBase(dir).T5;
        Freeze(t5);
        return t5;
    }

    /// <summary>Turns off gradients of every weight of <paramref name="module"/>: AdamW then leaves them (and their moments) as they are.</summary>
    public static void Freeze(nn.Module module)
    {
        foreach (var p in module.parameters())
        {
            p.requires_grad = false;
        }
    }

    /// <summary>The SR transformer of <paramref name="dir"/>, in eval mode.</summary>
    public static MaskedTransformer LoadTransformer(string dir)
    {
        var model = new MaskedTransformer(ReadTransformerConfig(dir));
        Checkpoint.Load(dir, model, null);
        model.eval();
        return model;
    }

    /// <summary>
    /// VQGAN tokens (row-major) of <paramref name="count"/> images, cached in <c>tokens-NAME-seedS.bin</c> next to the
    /// checkpoint (they are a pure function of the VQGAN and the data, so a resumed run reuses them). The data seed is
    /// in the name: the scenes behind index i differ between seeds, so a cache copied from a run with another seed
    /// must not be taken for this one's.
    /// </summary>
    public static long[][] TokenCache(string dir, string name, ulong seed, Vqgan vqgan, int count, Func<int, byte[]> image, int size)
    {
        var path = Path.Combine(dir, $"tokens-{name}-seed{seed}.bin");
        var perImage = (size / 8) * (size / 8);
        if (File.Exists(path) && new FileInfo(path).Length == (long)count * perImage * 2)
        {
            using var reader = new BinaryReader(File.OpenRead(path));
            return [.. Enumerable.Range(0, count).Select(_ => Enumerable.Range(0, perImage).Select(_ => (long)reader.ReadUInt16()).ToArray())];
        }

        var result = new long[count][];
        const int chunk = 32;
        for (var start = 0; start < count; start += chunk)
        {
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            var end = Math.Min(count, start + chunk);
            var images = ImageBatch.FromRgb([.. Enumerable.Range(start, end - start).Select(image)], size);
            var tokens = vqgan.Encode(images).reshape(end - start, perImage).data<long>().ToArray();
            for (var i = start; i < end; i++)
            {
                result[i] = tokens[((i - start) * perImage)..((i - start + 1) * perImage)];
            }
        }

        var temp = path + ".tmp";
        using (var writer = new BinaryWriter(File.Create(temp)))
        {
            foreach (var row in result)
            {
                foreach (var t in row)
                {
                    writer.Write((ushort)t);
                }
            }
        }

        File.Move(temp, path, overwrite: true);
        return result;
    }

    /// <summary>Text embeddings [count, L, D] of tokenized captions (no grad).</summary>
    public static Tensor Embed(T5Encoder t5, (long[] Ids, long[] Mask)[] captions)
    {
        var l = t5.Config.MaxLength;
        var parts = new List<Tensor>();
        for (var start = 0; start < captions.Length; start += 256)
        {
            var end = Math.Min(captions.Length, start + 256);
            var ids = captions[start..end].SelectMany(c => c.Ids).ToArray();
            var mask = captions[start..end].SelectMany(c => c.Mask).ToArray();
            parts.Add(t5.Forward(tensor(ids, [end - start, l]), tensor(mask, [end - start, l])));
        }

        return cat(parts, 0);
    }
}
