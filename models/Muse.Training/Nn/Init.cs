using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Muse.Training.Nn;

/// <summary>Initialisation fixes shared by the modules.</summary>
internal static class Init
{
    /// <summary>
    /// Sets every GroupNorm/LayerNorm to weight 1, bias 0. TorchSharp 0.107 can leave GroupNorm's affine
    /// parameters uninitialised (NaN seen in practice), so they are always set explicitly.
    /// </summary>
    public static void ResetNorms(nn.Module module)
    {
        using var noGrad = no_grad();
        foreach (var (_, child) in module.named_modules())
        {
            switch (child)
            {
                case GroupNorm g:
                    g.weight?.fill_(1);
                    g.bias?.zero_();
                    break;
                case LayerNorm l:
                    l.weight?.fill_(1);
                    l.bias?.zero_();
                    break;
            }
        }
    }
}
