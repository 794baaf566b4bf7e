using Muse.ModelBuilder.Architectures;
using Muse.ModelBuilder.Weights;

namespace Muse.ModelBuilder.Amused;

/// <summary>
/// A downloaded aMUSEd folder in diffusers layout (<c>text_encoder/</c>, <c>tokenizer/</c>, <c>transformer/</c>,
/// <c>vqvae/</c>, <c>scheduler/</c>, <c>model_index.json</c>): each component's config and its safetensors weights,
/// checked against what the graphs read. A missing, unknown or mis-shaped tensor stops the import naming it. Float
/// tensors are read from the file when a graph takes them, so a checkpoint larger than memory imports.
/// </summary>
public static class AmusedCheckpoint
{
    // Buffers some transformers versions save that the graph derives itself.
    private static readonly string[] IgnoredTensors = ["text_model.embeddings.position_ids"];

    /// <summary>The CLIP text encoder of <paramref name="folder"/>.</summary>
    public static (ClipTextConfig Config, Dictionary<string, WeightTensor> Weights) TextEncoder(string folder)
    {
        var dir = Path.Combine(folder, "text_encoder");
        var config = ClipTextConfig.Read(Path.Combine(dir, "config.json"));
        return (config, Load(dir, "model.safetensors", ClipTextGraph.WeightSpecs(config)));
    }

    /// <summary>The VQ-GAN of <paramref name="folder"/>.</summary>
    public static (AmusedVqConfig Config, Dictionary<string, WeightTensor> Weights) Vqvae(string folder)
    {
        var dir = Path.Combine(folder, "vqvae");
        var config = AmusedVqConfig.Read(Path.Combine(dir, "config.json"));
        return (config, Load(dir, "diffusion_pytorch_model.safetensors", AmusedVqGraphs.WeightSpecs(config)));
    }

    /// <summary>The U-ViT of <paramref name="folder"/> (a pipeline folder, or a <c>transformer/</c>-like component folder itself).</summary>
    public static (UVitConfig Config, Dictionary<string, WeightTensor> Weights) Transformer(string folder)
    {
        var dir = File.Exists(Path.Combine(folder, "config.json")) ? folder : Path.Combine(folder, "transformer");
        var config = UVitConfig.Read(Path.Combine(dir, "config.json"));
        return (config, Load(dir, "diffusion_pytorch_model.safetensors", UVitGraph.WeightSpecs(config)));
    }

    private static Dictionary<string, WeightTensor> Load(string dir, string file, IReadOnlyList<WeightSpec> specs)
    {
        var path = Path.Combine(dir, file);
        if (!File.Exists(path))
        {
            throw new InvalidDataException($"{path} is missing (the import reads float32 safetensors in diffusers layout).");
        }

        var weights = Safetensors.ReadLazy(path);
        foreach (var ignored in IgnoredTensors)
        {
            weights.Remove(ignored);
        }

        try
        {
            WeightSpec.Validate(specs, weights);
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"{path}: {e.Message}", e);
        }

        return weights;
    }
}
