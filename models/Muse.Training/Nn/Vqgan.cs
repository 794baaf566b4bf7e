using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;

namespace Muse.Training.Nn;

/// <summary>
/// ResBlock of models/README.md: <c>h = conv1(silu(norm1(x)))</c>, <c>h = conv2(silu(norm2(h)))</c>,
/// <c>out = (cin ≠ cout ? nin_shortcut(x) : x) + h</c>.
/// </summary>
/// <remarks>Field names become state_dict names through <see cref="ComponentNameAttribute"/>.</remarks>
internal sealed class ResBlock : nn.Module<Tensor, Tensor>
{
    [ComponentName(Name = "norm1")]
    private readonly GroupNorm _norm1;
    [ComponentName(Name = "conv1")]
    private readonly Conv2d _conv1;
    [ComponentName(Name = "norm2")]
    private readonly GroupNorm _norm2;
    [ComponentName(Name = "conv2")]
    private readonly Conv2d _conv2;
    [ComponentName(Name = "nin_shortcut")]
    private readonly Conv2d? _ninShortcut;

    public ResBlock(long cin, long cout, long groups, double eps)
        : base(nameof(ResBlock))
    {
        _norm1 = nn.GroupNorm(groups, cin, eps);
        _conv1 = nn.Conv2d(cin, cout, kernel_size: 3, stride: 1, padding: 1);
        _norm2 = nn.GroupNorm(groups, cout, eps);
        _conv2 = nn.Conv2d(cout, cout, kernel_size: 3, stride: 1, padding: 1);
        if (cin != cout)
        {
            _ninShortcut = nn.Conv2d(cin, cout, kernel_size: 1);
        }

        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var h = _conv1.forward(nn.functional.silu(_norm1.forward(x)));
        h = _conv2.forward(nn.functional.silu(_norm2.forward(h)));
        var shortcut = _ninShortcut is null ? x : _ninShortcut.forward(x);
        return (shortcut + h).MoveToOuterDisposeScope();
    }
}

/// <summary>A module with one child named <c>conv</c> (the spec's <c>downsample.conv</c> / <c>upsample.conv</c>).</summary>
internal sealed class ConvHolder : nn.Module<Tensor, Tensor>
{
    [ComponentName(Name = "conv")]
    private readonly Conv2d _conv;

    public ConvHolder(long channels, long stride)
        : base(nameof(ConvHolder))
    {
        _conv = nn.Conv2d(channels, channels, kernel_size: 3, stride: stride, padding: 1);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => _conv.forward(x);
}

/// <summary>Encoder level (<c>block</c> + <c>downsample</c>).</summary>
internal sealed class DownLevel : nn.Module
{
    [ComponentName(Name = "block")]
    internal readonly ResBlock Block;
    [ComponentName(Name = "downsample")]
    internal readonly ConvHolder Resample;

    public DownLevel(ResBlock block, ConvHolder resample)
        : base(nameof(DownLevel))
    {
        Block = block;
        Resample = resample;
        RegisterComponents();
    }
}

/// <summary>Decoder level (<c>block</c> + <c>upsample</c>).</summary>
internal sealed class UpLevel : nn.Module
{
    [ComponentName(Name = "block")]
    internal readonly ResBlock Block;
    [ComponentName(Name = "upsample")]
    internal readonly ConvHolder Resample;

    public UpLevel(ResBlock block, ConvHolder resample)
        : base(nameof(UpLevel))
    {
        Block = block;
        Resample = resample;
        RegisterComponents();
    }
}

/// <summary>A module with one child named <c>block</c> (the spec's <c>mid.block</c>).</summary>
internal sealed class Mid : nn.Module
{
    [ComponentName(Name = "block")]
    internal readonly ResBlock Block;

    public Mid(ResBlock block)
        : base(nameof(Mid))
    {
        Block = block;
        RegisterComponents();
    }
}

/// <summary>VQGAN encoder: image [B, 3, H, W] in [-1, 1] → latents [B, E, H/8, W/8].</summary>
internal sealed class VqganEncoder : nn.Module<Tensor, Tensor>
{
    [ComponentName(Name = "conv_in")]
    private readonly Conv2d _convIn;
    [ComponentName(Name = "down")]
    private readonly ModuleList<DownLevel> _down = new();
    [ComponentName(Name = "mid")]
    private readonly Mid _mid;
    [ComponentName(Name = "norm_out")]
    private readonly GroupNorm _normOut;
    [ComponentName(Name = "conv_out")]
    private readonly Conv2d _convOut;

    public VqganEncoder(VqganConfig config)
        : base(nameof(VqganEncoder))
    {
        var c = config.Channels;
        _convIn = nn.Conv2d(3, c[0], kernel_size: 3, stride: 1, padding: 1);
        for (var i = 0; i < 3; i++)
        {
            _down.Add(new DownLevel(new ResBlock(c[i], c[i + 1], config.Groups, config.Eps), new ConvHolder(c[i + 1], 2)));
        }

        _mid = new Mid(new ResBlock(c[3], c[3], config.Groups, config.Eps));
        _normOut = nn.GroupNorm(config.Groups, c[3], config.Eps);
        _convOut = nn.Conv2d(c[3], config.EmbedDim, kernel_size: 1);
        RegisterComponents();
    }

    public override Tensor forward(Tensor image)
    {
        using var scope = NewDisposeScope();
        var h = _convIn.forward(image);
        foreach (var level in _down)
        {
            h = level.Resample.forward(level.Block.forward(h));
        }

        h = _mid.Block.forward(h);
        h = _convOut.forward(nn.functional.silu(_normOut.forward(h)));
        return h.MoveToOuterDisposeScope();
    }
}

/// <summary>
/// Patch encoder (<c>patchDim</c> P): image [B, 3, H, W] → latents [B, E, H/8, W/8] with
/// <c>conv_out(silu(patch_hidden(silu(patch_embed(x)))))</c>, an 8×8 stride-8 convolution and two 1×1 ones.
/// </summary>
/// <remarks>
/// A token sees its own 8×8 pixels and nothing else (no neighbours, no GroupNorm statistics of the whole image),
/// so one patch always gets one code: the transformers' targets are a function of the scene, not of its context.
/// </remarks>
internal sealed class PatchEncoder : nn.Module<Tensor, Tensor>
{
    [ComponentName(Name = "patch_embed")]
    private readonly Conv2d _patchEmbed;
    [ComponentName(Name = "patch_hidden")]
    private readonly Conv2d _patchHidden;
    [ComponentName(Name = "conv_out")]
    private readonly Conv2d _convOut;

    public PatchEncoder(VqganConfig config, int patchDim)
        : base(nameof(PatchEncoder))
    {
        var p = config.DownsampleFactor;
        _patchEmbed = nn.Conv2d(3, patchDim, kernel_size: p, stride: p);
        _patchHidden = nn.Conv2d(patchDim, patchDim, kernel_size: 1);
        _convOut = nn.Conv2d(patchDim, config.EmbedDim, kernel_size: 1);
        RegisterComponents();
    }

    public override Tensor forward(Tensor image)
    {
        using var scope = NewDisposeScope();
        var h = nn.functional.silu(_patchEmbed.forward(image));
        h = nn.functional.silu(_patchHidden.forward(h));
        return _convOut.forward(h).MoveToOuterDisposeScope();
    }
}

/// <summary>VQGAN decoder: quantized latents [B, E, h, w] → image [B, 3, 8h, 8w] (unclamped).</summary>
internal sealed class VqganDecoder : nn.Module<Tensor, Tensor>
{
    [ComponentName(Name = "conv_in")]
    private readonly Conv2d _convIn;
    [ComponentName(Name = "mid")]
    private readonly Mid _mid;
    [ComponentName(Name = "up")]
    private readonly ModuleList<UpLevel> _up = new();
    [ComponentName(Name = "norm_out")]
    private readonly GroupNorm _normOut;
    [ComponentName(Name = "conv_out")]
    private readonly Conv2d _convOut;

    public VqganDecoder(VqganConfig config)
        : base(nameof(VqganDecoder))
    {
        var c = config.Channels;
        _convIn = nn.Conv2d(config.EmbedDim, c[3], kernel_size: 3, stride: 1, padding: 1);
        _mid = new Mid(new ResBlock(c[3], c[3], config.Groups, config.Eps));
        // Index i of up.{i} is the resolution level, as in the encoder; it runs from 2 down to 0.
        for (var i = 0; i < 3; i++)
        {
            _up.Add(new UpLevel(new ResBlock(c[i + 1], c[i], config.Groups, config.Eps), new ConvHolder(c[i + 1], 1)));
        }

        _normOut = nn.GroupNorm(config.Groups, c[0], config.Eps);
        _convOut = nn.Conv2d(c[0], 3, kernel_size: 3, stride: 1, padding: 1);
        RegisterComponents();
    }

    public override Tensor forward(Tensor codes)
    {
        using var scope = NewDisposeScope();
        var h = _mid.Block.forward(_convIn.forward(codes));
        for (var i = 2; i >= 0; i--)
        {
            // Nearest 2× upsampling.
            h = h.repeat_interleave(2, dim: 2).repeat_interleave(2, dim: 3);
            h = _up[i].Block.forward(_up[i].Resample.forward(h));
        }

        h = _convOut.forward(nn.functional.silu(_normOut.forward(h)));
        return h.MoveToOuterDisposeScope();
    }
}

/// <summary>Nearest-code quantizer with the <c>quantize.embedding.weight</c> [K, E] codebook.</summary>
internal sealed class VectorQuantizer : nn.Module
{
    [ComponentName(Name = "embedding")]
    private readonly Embedding _embedding;

    public VectorQuantizer(long codebookSize, long embedDim)
        : base(nameof(VectorQuantizer))
    {
        _embedding = nn.Embedding(codebookSize, embedDim);
        RegisterComponents();
        using (no_grad())
        {
            // Small uniform init as in VQ-VAE; dead-code restarts move unused codes onto the data.
            _embedding.weight!.uniform_(-1.0 / codebookSize, 1.0 / codebookSize);
        }
    }

    /// <summary>The codebook [K, E].</summary>
    public Tensor Codebook => _embedding.weight!;

    /// <summary>Nearest code per row: flat [n, E] → ids [n] (first index on ties).</summary>
    public Tensor Nearest(Tensor flat)
    {
        using var scope = NewDisposeScope();
        var e = Codebook;
        // ‖z‖² − 2 z·e + ‖e‖², [n, K]; the ‖z‖² term does not change the argmin but keeps values honest.
        var distances = flat.pow(2).sum(1, keepdim: true) - (2 * flat.matmul(e.t())) + e.pow(2).sum(1).unsqueeze(0);
        return distances.argmin(1).MoveToOuterDisposeScope();
    }

    /// <summary>Latents [B, E, h, w] → token ids [B, h, w].</summary>
    public Tensor Tokens(Tensor z)
    {
        using var scope = NewDisposeScope();
        var (b, e, h, w) = (z.shape[0], z.shape[1], z.shape[2], z.shape[3]);
        var flat = z.permute(0, 2, 3, 1).reshape(-1, e);
        return Nearest(flat).reshape(b, h, w).MoveToOuterDisposeScope();
    }

    /// <summary>Token ids [B, h, w] → codes [B, E, h, w].</summary>
    public Tensor Lookup(Tensor tokens) => _embedding.forward(tokens).permute(0, 3, 1, 2);
}

/// <summary>Result of one VQGAN training forward pass.</summary>
internal sealed record VqganOutput(Tensor Reconstruction, Tensor CodebookLoss, Tensor CommitmentLoss, Tensor Tokens, Tensor FlatLatents);

/// <summary>The VQGAN of models/README.md: <c>encoder.*</c>, <c>quantize.embedding.weight</c>, <c>decoder.*</c>.</summary>
internal sealed class Vqgan : nn.Module
{
    public Vqgan(VqganConfig config)
        : base(nameof(Vqgan))
    {
        Config = config;
        Encoder = config.PatchDim is { } patchDim ? new PatchEncoder(config, patchDim) : new VqganEncoder(config);
        Quantize = new VectorQuantizer(config.CodebookSize, config.EmbedDim);
        Decoder = new VqganDecoder(config);
        RegisterComponents();
        Init.ResetNorms(this);
    }

    [ComponentName(Name = "encoder")]
    internal readonly nn.Module<Tensor, Tensor> Encoder;
    [ComponentName(Name = "quantize")]
    internal readonly VectorQuantizer Quantize;
    [ComponentName(Name = "decoder")]
    internal readonly VqganDecoder Decoder;

    public VqganConfig Config { get; }

    /// <summary>Image [B, 3, H, W] → token ids [B, H/8, W/8], as the ONNX encoder graph.</summary>
    public Tensor Encode(Tensor image)
    {
        using var scope = NewDisposeScope();
        return Quantize.Tokens(Encoder.forward(image)).MoveToOuterDisposeScope();
    }

    /// <summary>Token ids [B, h, w] → image [B, 3, 8h, 8w], unclamped, as the ONNX decoder graph.</summary>
    public Tensor Decode(Tensor tokens)
    {
        using var scope = NewDisposeScope();
        return Decoder.forward(Quantize.Lookup(tokens)).MoveToOuterDisposeScope();
    }

    /// <summary>Training pass with the straight-through estimator.</summary>
    public VqganOutput Forward(Tensor image)
    {
        var z = Encoder.forward(image); // [B, E, h, w]
        var (b, e, h, w) = (z.shape[0], z.shape[1], z.shape[2], z.shape[3]);
        var flat = z.permute(0, 2, 3, 1).reshape(-1, e); // [B·h·w, E]
        Tensor ids;
        using (no_grad())
        {
            ids = Quantize.Nearest(flat.detach()); // [B·h·w]
        }

        var zq = Quantize.Codebook.index_select(0, ids); // [B·h·w, E]
        var codebookLoss = nn.functional.mse_loss(zq, flat.detach());
        var commitmentLoss = nn.functional.mse_loss(flat, zq.detach());
        var straightThrough = flat + (zq - flat).detach();
        var codes = straightThrough.reshape(b, h, w, e).permute(0, 3, 1, 2);
        var reconstruction = Decoder.forward(codes);
        return new VqganOutput(reconstruction, codebookLoss, commitmentLoss, ids, flat);
    }
}
