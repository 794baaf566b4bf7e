using Muse.ModelBuilder.Architectures;
using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;

namespace Muse.Training.Nn;

/// <summary>T5 RMSNorm: <c>x · rsqrt(mean(x², last axis) + eps) · weight</c> (no mean subtraction, no bias).</summary>
internal sealed class T5RmsNorm : nn.Module<Tensor, Tensor>
{
    [ComponentName(Name = "weight")]
    private readonly Parameter _weight;
    private readonly double _eps;

    public T5RmsNorm(long dim, double eps)
        : base(nameof(T5RmsNorm))
    {
        _weight = new Parameter(ones(dim));
        _eps = eps;
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var variance = x.pow(2).mean([-1], keepdim: true);
        return (x * (variance + _eps).rsqrt() * _weight).MoveToOuterDisposeScope();
    }
}

/// <summary>T5 self-attention: q/k/v/o without bias, scores <c>q·kᵀ</c> without scaling, plus position bias and mask.</summary>
internal sealed class T5Attention : nn.Module
{
    [ComponentName(Name = "q")]
    private readonly Linear _q;
    [ComponentName(Name = "k")]
    private readonly Linear _k;
    [ComponentName(Name = "v")]
    private readonly Linear _v;
    [ComponentName(Name = "o")]
    private readonly Linear _o;
    [ComponentName(Name = "relative_attention_bias")]
    private readonly Embedding? _relativeAttentionBias;
    private readonly int _heads;

    public T5Attention(T5Config config, bool hasRelativeBias)
        : base(nameof(T5Attention))
    {
        _heads = config.NumHeads;
        _q = nn.Linear(config.DModel, config.DModel, hasBias: false);
        _k = nn.Linear(config.DModel, config.DModel, hasBias: false);
        _v = nn.Linear(config.DModel, config.DModel, hasBias: false);
        _o = nn.Linear(config.DModel, config.DModel, hasBias: false);
        if (hasRelativeBias)
        {
            _relativeAttentionBias = nn.Embedding(config.NumBuckets, config.NumHeads);
        }

        RegisterComponents();
    }

    /// <summary>Position bias [1, H, L, L] from the constant bucket table [L, L] (layer 0 only).</summary>
    public Tensor PositionBias(Tensor buckets) =>
        _relativeAttentionBias!.forward(buckets).permute(2, 0, 1).unsqueeze(0);

    /// <summary>x [B, L, D], bias [B or 1, H, L, L] (position bias + key mask) → [B, L, D].</summary>
    public Tensor Forward(Tensor x, Tensor bias)
    {
        using var scope = NewDisposeScope();
        var (b, l, d) = (x.shape[0], x.shape[1], x.shape[2]);
        var dkv = d / _heads;
        var q = _q.forward(x).view(b, l, _heads, dkv).transpose(1, 2); // [B, H, L, dKv]
        var k = _k.forward(x).view(b, l, _heads, dkv).transpose(1, 2);
        var v = _v.forward(x).view(b, l, _heads, dkv).transpose(1, 2);
        var scores = q.matmul(k.transpose(2, 3)) + bias; // [B, H, L, L], no 1/√dKv (T5)
        var attention = scores.softmax(-1);
        var context = attention.matmul(v).transpose(1, 2).reshape(b, l, d);
        return _o.forward(context).MoveToOuterDisposeScope();
    }
}

/// <summary><c>layer.0</c>: <c>layer_norm</c> + <c>SelfAttention</c>.</summary>
internal sealed class T5LayerSelfAttention : nn.Module
{
    [ComponentName(Name = "layer_norm")]
    internal readonly T5RmsNorm LayerNorm;
    [ComponentName(Name = "SelfAttention")]
    internal readonly T5Attention SelfAttention;

    public T5LayerSelfAttention(T5Config config, bool hasRelativeBias)
        : base(nameof(T5LayerSelfAttention))
    {
        LayerNorm = new T5RmsNorm(config.DModel, config.Eps);
        SelfAttention = new T5Attention(config, hasRelativeBias);
        RegisterComponents();
    }
}

/// <summary>Gated-GELU feed-forward <c>wo(gelu(wi_0 h) ⊙ wi_1 h)</c>, no biases.</summary>
internal sealed class T5DenseGatedGelu : nn.Module<Tensor, Tensor>
{
    [ComponentName(Name = "wi_0")]
    private readonly Linear _wi0;
    [ComponentName(Name = "wi_1")]
    private readonly Linear _wi1;
    [ComponentName(Name = "wo")]
    private readonly Linear _wo;

    public T5DenseGatedGelu(T5Config config)
        : base(nameof(T5DenseGatedGelu))
    {
        _wi0 = nn.Linear(config.DModel, config.DFf, hasBias: false);
        _wi1 = nn.Linear(config.DModel, config.DFf, hasBias: false);
        _wo = nn.Linear(config.DFf, config.DModel, hasBias: false);
        RegisterComponents();
    }

    public override Tensor forward(Tensor h)
    {
        using var scope = NewDisposeScope();
        return _wo.forward(nn.functional.gelu(_wi0.forward(h)) * _wi1.forward(h)).MoveToOuterDisposeScope();
    }
}

/// <summary><c>layer.1</c>: <c>layer_norm</c> + <c>DenseReluDense</c>.</summary>
internal sealed class T5LayerFF : nn.Module
{
    [ComponentName(Name = "layer_norm")]
    internal readonly T5RmsNorm LayerNorm;
    [ComponentName(Name = "DenseReluDense")]
    internal readonly T5DenseGatedGelu DenseReluDense;

    public T5LayerFF(T5Config config)
        : base(nameof(T5LayerFF))
    {
        LayerNorm = new T5RmsNorm(config.DModel, config.Eps);
        DenseReluDense = new T5DenseGatedGelu(config);
        RegisterComponents();
    }
}

/// <summary><c>encoder.block.{i}</c>: <c>layer.0</c> (attention) and <c>layer.1</c> (feed-forward).</summary>
internal sealed class T5Block : nn.Module
{
    [ComponentName(Name = "layer")]
    private readonly ModuleList<nn.Module> _layer = new();

    public T5Block(T5Config config, bool hasRelativeBias)
        : base(nameof(T5Block))
    {
        _layer.Add(new T5LayerSelfAttention(config, hasRelativeBias));
        _layer.Add(new T5LayerFF(config));
        RegisterComponents();
    }

    // Views of the list's items; not fields, since RegisterComponents registers every module-typed field.
    internal T5LayerSelfAttention Attention => (T5LayerSelfAttention)_layer[0];

    internal T5LayerFF FeedForward => (T5LayerFF)_layer[1];

    /// <summary>x [B, L, D] → [B, L, D].</summary>
    public Tensor Forward(Tensor x, Tensor bias)
    {
        using var scope = NewDisposeScope();
        x = x + Attention.SelfAttention.Forward(Attention.LayerNorm.forward(x), bias);
        x = x + FeedForward.DenseReluDense.forward(FeedForward.LayerNorm.forward(x));
        return x.MoveToOuterDisposeScope();
    }
}

/// <summary><c>encoder</c>: <c>block.{i}</c> and <c>final_layer_norm</c>.</summary>
internal sealed class T5Stack : nn.Module
{
    [ComponentName(Name = "block")]
    internal readonly ModuleList<T5Block> Block = new();
    [ComponentName(Name = "final_layer_norm")]
    internal readonly T5RmsNorm FinalLayerNorm;

    public T5Stack(T5Config config)
        : base(nameof(T5Stack))
    {
        for (var i = 0; i < config.NumLayers; i++)
        {
            Block.Add(new T5Block(config, hasRelativeBias: i == 0));
        }

        FinalLayerNorm = new T5RmsNorm(config.DModel, config.Eps);
        RegisterComponents();
    }
}

/// <summary>
/// T5 v1.1 encoder of models/README.md: <c>shared.weight</c> + <c>encoder.*</c>. Input ids [B, L] and
/// attention mask [B, L] (1 = token, 0 = padding) → last hidden state [B, L, D].
/// </summary>
internal sealed class T5Encoder : nn.Module
{
    [ComponentName(Name = "shared")]
    internal readonly Embedding Shared;
    [ComponentName(Name = "encoder")]
    internal readonly T5Stack Encoder;
    private readonly long[] _buckets;

    public T5Encoder(T5Config config)
        : base(nameof(T5Encoder))
    {
        Config = config;
        Shared = nn.Embedding(config.VocabSize, config.DModel);
        Encoder = new T5Stack(config);
        RegisterComponents();
        Init.ResetNorms(this);
        _buckets = BucketTable(config);
        using (no_grad())
        {
            // T5-style init scale: unit-variance embeddings, small attention/FF weights.
            Shared.weight!.normal_(0, 1.0);
        }
    }

    public T5Config Config { get; }

    /// <summary>
    /// The T5 bidirectional bucket of every (query i, key j) pair, row-major [L·L], from the same bucket function the
    /// ONNX graph's constant table is built with.
    /// </summary>
    public static long[] BucketTable(T5Config config)
    {
        var l = config.MaxLength;
        var table = new long[l * l];
        for (var i = 0; i < l; i++)
        {
            for (var j = 0; j < l; j++)
            {
                table[(i * l) + j] = T5EncoderGraph.RelativePositionBucket(j - i, config.NumBuckets, config.MaxDistance);
            }
        }

        return table;
    }

    /// <summary>input_ids [B, L] int64, attention_mask [B, L] (any numeric type) → [B, L, D].</summary>
    public Tensor Forward(Tensor inputIds, Tensor attentionMask)
    {
        using var scope = NewDisposeScope();
        var x = Shared.forward(inputIds); // [B, L, D]
        var positionBias = Encoder.Block[0].Attention.SelfAttention.PositionBias(tensor(_buckets, [Config.MaxLength, Config.MaxLength])); // [1, H, L, L]
        var keyMask = (1 - attentionMask.to_type(ScalarType.Float32)) * -1e9f; // [B, L]
        var bias = positionBias + keyMask.unsqueeze(1).unsqueeze(1); // [B, H, L, L]
        foreach (var block in Encoder.Block)
        {
            x = block.Forward(x, bias);
        }

        return Encoder.FinalLayerNorm.forward(x).MoveToOuterDisposeScope();
    }
}
