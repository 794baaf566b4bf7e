using Muse.Training.Nn;
using Muse.Training.Stages;
using TorchSharp;

namespace Muse.Training;

/// <summary>Builds a model with its default configuration (for the <c>names</c> verb).</summary>
internal static class ModelFactory
{
    public static torch.nn.Module Create(string model, bool smoke) => model switch
    {
        "vqgan" => new Vqgan(VqganTrainer.DefaultConfig(smoke)),
        "t5" => new T5Encoder(TransformerTrainer.DefaultT5(smoke, 100)),
        "base" => new MaskedTransformer(TransformerTrainer.DefaultBase(smoke, 512, 64)),
        "sr" => new MaskedTransformer(TransformerTrainer.DefaultSr(smoke, 512, 64)),
        _ => throw new ArgumentException($"unknown model '{model}' (vqgan, t5, base, sr)"),
    };
}
