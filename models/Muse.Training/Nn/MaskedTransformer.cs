using Muse.ModelBuilder.Architectures;
using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;

namespace Muse.Training.Nn;

/// <summary>Multi-head attention with biased q/k/v/o projections and 1/√(D/H) scaling.</summary>
internal sealed class MultiHeadAttention : nn.Module
{
    [ComponentName(Name = "q")]
    private readonly Linear _q;
    [ComponentName(Name = "k")]
    private readonly Linear _k;
    [ComponentName(Name = "v")]
    private readonly Linear _v;
    [ComponentName(Name = "o")]
    private readonly Linear _o;
    private readonly int _heads;

    public MultiHeadAttention(int dModel, int heads)
        : base(nameof(MultiHeadAttention))
    {
        _heads = heads;
        _q = nn.Linear(dModel, dModel);
        _k = nn.Linear(dModel, dModel);
        _v = nn.Linear(dModel, dModel);
        _o = nn.Linear(dModel, dModel);
        RegisterComponents();
    }

    /// <summary>x [B, N, D] attends to context [B, S, D]; keyBias [B, 1, 1, S] (0 or −1e9) or null.</summary>
    public Tensor Forward(Tensor x, Tensor context, Tensor? keyBias)
    {
        using var scope = NewDisposeScope();
        var (b, n, d) = (x.shape[0], x.shape[1], x.shape[2]);
        var s = context.shape[1];
        var dh = d / _heads;
        var q = _q.forward(x).view(b, n, _heads, dh).transpose(1, 2); // [B, H, N, dh]
        var k = _k.forward(context).view(b, s, _heads, dh).transpose(1, 2); // [B, H, S, dh]
        var v = _v.forward(context).view(b, s, _heads, dh).transpose(1, 2);
        var scores = q.matmul(k.transpose(2, 3)) * (1.0 / Math.Sqrt(dh)); // [B, H, N, S]
        if (keyBias is not null)
        {
            scores = scores + keyBias;
        }

        var context2 = scores.softmax(-1).matmul(v).transpose(1, 2).reshape(b, n, d);
        return _o.forward(context2).MoveToOuterDisposeScope();
    }
}

/// <summary>The <c>mlp</c> of a layer: <c>fc2(gelu(fc1(x)))</c>.</summary>
internal sealed class Mlp : nn.Module<Tensor, Tensor>
{
    [ComponentName(Name = "fc1")]
    private readonly Linear _fc1;
    [ComponentName(Name = "fc2")]
    private readonly Linear _fc2;

    public Mlp(int dModel, int mlpDim)
        : base(nameof(Mlp))
    {
        _fc1 = nn.Linear(dModel, mlpDim);
        _fc2 = nn.Linear(mlpDim, dModel);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        return _fc2.forward(nn.functional.gelu(_fc1.forward(x))).MoveToOuterDisposeScope();
    }
}

/// <summary>Pre-norm layer: bidirectional self-attention, cross-attention to the context, MLP.</summary>
internal sealed class TransformerLayer : nn.Module
{
    [ComponentName(Name = "norm1")]
    private readonly LayerNorm _norm1;
    [ComponentName(Name = "norm2")]
    private readonly LayerNorm _norm2;
    [ComponentName(Name = "norm3")]
    private readonly LayerNorm _norm3;
    [ComponentName(Name = "self_attn")]
    private readonly MultiHeadAttention _selfAttn;
    [ComponentName(Name = "cross_attn")]
    private readonly MultiHeadAttention _crossAttn;
    [ComponentName(Name = "mlp")]
    private readonly Mlp _mlp;

    public TransformerLayer(TransformerConfig config)
        : base(nameof(TransformerLayer))
    {
        _norm1 = nn.LayerNorm(config.DModel, config.Eps);
        _norm2 = nn.LayerNorm(config.DModel, config.Eps);
        _norm3 = nn.LayerNorm(config.DModel, config.Eps);
        _selfAttn = new MultiHeadAttention(config.DModel, config.NumHeads);
        _crossAttn = new MultiHeadAttention(config.DModel, config.NumHeads);
        _mlp = new Mlp(config.DModel, config.MlpDim);
        RegisterComponents();
    }

    public Tensor Forward(Tensor x, Tensor context, Tensor contextBias)
    {
        using var scope = NewDisposeScope();
        var h = _norm1.forward(x);
        x = x + _selfAttn.Forward(h, h, null);
        x = x + _crossAttn.Forward(_norm2.forward(x), context, contextBias);
        x = x + _mlp.forward(_norm3.forward(x));
        return x.MoveToOuterDisposeScope();
    }
}

/// <summary>
/// Masked transformer of models/README.md (role base or sr): tokens [B, N] (mask id = K), text embeddings
/// [B, L, Dt], text mask [B, L] (1 = token), and for sr low-res tokens [B, M] → logits [B, N, K].
/// </summary>
internal sealed class MaskedTransformer : nn.Module
{
    [ComponentName(Name = "token_embedding")]
    private readonly Embedding _tokenEmbedding;
    [ComponentName(Name = "position_embedding")]
    private readonly Parameter _positionEmbedding;
    [ComponentName(Name = "text_projection")]
    private readonly Linear _textProjection;
    [ComponentName(Name = "low_res_embedding")]
    private readonly Embedding? _lowResEmbedding;
    [ComponentName(Name = "low_res_position_embedding")]
    private readonly Parameter? _lowResPositionEmbedding;
    [ComponentName(Name = "low_res_aligned_embedding")]
    private readonly Embedding? _lowResAlignedEmbedding;
    [ComponentName(Name = "layers")]
    private readonly ModuleList<TransformerLayer> _layers = new();
    [ComponentName(Name = "norm_out")]
    private readonly LayerNorm _normOut;

    // Low-res token index beneath each position (alignedLowRes only); a constant, not a weight.
    private readonly long[]? _lowResBeneath;
    [ComponentName(Name = "to_logits")]
    private readonly Linear _toLogits;

    public MaskedTransformer(TransformerConfig config)
        : base(nameof(MaskedTransformer))
    {
        Config = config;
        var n = config.GridHeight * config.GridWidth;
        _tokenEmbedding = nn.Embedding(config.CodebookSize + 1, config.DModel);
        _positionEmbedding = new Parameter(randn(n, config.DModel) * 0.02);
        _textProjection = nn.Linear(config.TextDim, config.DModel);
        if (config.IsSuperResolution)
        {
            _lowResEmbedding = nn.Embedding(config.CodebookSize, config.DModel);
            _lowResPositionEmbedding = new Parameter(randn(config.LowResGridHeight * config.LowResGridWidth, config.DModel) * 0.02);
            if (config.AlignedLowRes)
            {
                _lowResAlignedEmbedding = nn.Embedding(config.CodebookSize, config.DModel);
                _lowResBeneath = MaskedTransformerGraph.LowResBeneath(config.GridHeight, config.GridWidth, config.LowResGridHeight, config.LowResGridWidth);
            }
        }

        for (var i = 0; i < config.NumLayers; i++)
        {
            _layers.Add(new TransformerLayer(config));
        }

        _normOut = nn.LayerNorm(config.DModel, config.Eps);
        _toLogits = nn.Linear(config.DModel, config.CodebookSize);
        RegisterComponents();
        Init.ResetNorms(this);
        using (no_grad())
        {
            _tokenEmbedding.weight!.normal_(0, 0.02);
            _lowResEmbedding?.weight!.normal_(0, 0.02);
            _lowResAlignedEmbedding?.weight!.normal_(0, 0.02);
        }
    }

    public TransformerConfig Config { get; }

    /// <summary>Mask token id: the codebook size K.</summary>
    public long MaskTokenId => Config.CodebookSize;

    /// <summary>
    /// tokens [B, N], textEmbeddings [B, L, Dt], textMask [B, L] float, lowResTokens [B, M] (sr) → logits [B, N, K].
    /// With <paramref name="positions"/> [B, P] (training on crops) the tokens [B, P] are those grid positions only:
    /// each takes its own position embedding and low-res token beneath, so a model trained on crops of the grid
    /// runs on the whole grid unchanged.
    /// </summary>
    public Tensor Forward(Tensor tokens, Tensor textEmbeddings, Tensor textMask, Tensor? lowResTokens, Tensor? positions = null)
    {
        using var scope = NewDisposeScope();
        var x = _tokenEmbedding.forward(tokens) + (positions is null
            ? _positionEmbedding
            : _positionEmbedding.index_select(0, positions.flatten()).view(positions.shape[0], positions.shape[1], -1)); // [B, N, D]
        var context = _textProjection.forward(textEmbeddings); // [B, L, D]
        var contextMask = textMask; // [B, L]
        if (_lowResEmbedding is not null)
        {
            var lowRes = _lowResEmbedding.forward(lowResTokens!) + _lowResPositionEmbedding!; // [B, M, D]
            context = cat([context, lowRes], 1); // [B, L + M, D]
            contextMask = cat([textMask, ones(lowRes.shape[0], lowRes.shape[1])], 1); // low-res keys are never masked
            if (_lowResAlignedEmbedding is not null)
            {
                var beneath = positions is null
                    ? lowResTokens!.index_select(1, tensor(_lowResBeneath!))
                    : lowResTokens!.gather(1, tensor(_lowResBeneath!).index_select(0, positions.flatten()).view(positions.shape[0], positions.shape[1]));
                x = x + _lowResAlignedEmbedding.forward(beneath); // [B, N, D]
            }
        }

        var contextBias = ((1 - contextMask) * -1e9f).unsqueeze(1).unsqueeze(1); // [B, 1, 1, S]
        foreach (var layer in _layers)
        {
            x = layer.Forward(x, context, contextBias);
        }

        return _toLogits.forward(_normOut.forward(x)).MoveToOuterDisposeScope();
    }
}
