using TorchSharp;
using TorchSharp.Utils;
using static TorchSharp.torch;

namespace Muse.Training.Nn;

/// <summary>
/// The text encoder and the base transformer trained jointly (one optimizer, one checkpoint).
/// state_dict names are <c>t5.*</c> and <c>base.*</c>; export strips the prefix.
/// </summary>
internal sealed class TextBase : nn.Module
{
    [ComponentName(Name = "t5")]
    internal readonly T5Encoder T5;
    [ComponentName(Name = "base")]
    internal readonly MaskedTransformer Base;

    public TextBase(T5Config t5, TransformerConfig transformer)
        : base(nameof(TextBase))
    {
        T5 = new T5Encoder(t5);
        Base = new MaskedTransformer(transformer);
        RegisterComponents();
    }
}
