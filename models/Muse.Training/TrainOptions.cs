namespace Muse.Training;

/// <summary>Command-line options shared by every stage.</summary>
internal sealed record TrainOptions
{
    /// <summary>Root of stage folders, e.g. /work/train (one folder per stage below it).</summary>
    public string Out { get; init; } = "/work/train";

    /// <summary>Seed of weight init, data order, masking and restarts.</summary>
    public ulong Seed { get; init; } = 1;

    /// <summary>Total optimizer steps of the stage (the LR schedule spans them).</summary>
    public long Steps { get; init; } = 1000;

    /// <summary>Continue from the stage's checkpoint.</summary>
    public bool Resume { get; init; }

    /// <summary>Tiny data and models sizes: a CI check of the whole path, not a model.</summary>
    public bool Smoke { get; init; }

    /// <summary>Images per batch; 0 means the stage's default.</summary>
    public int Batch { get; init; }

    /// <summary>Peak learning rate; 0 means the stage's default.</summary>
    public double LearningRate { get; init; }

    /// <summary>Steps between checkpoints.</summary>
    public int CheckpointEvery { get; init; } = 200;

    /// <summary>Steps between log lines.</summary>
    public int LogEvery { get; init; } = 50;

    /// <summary>Steps between held-out evaluations.</summary>
    public int EvalEvery { get; init; } = 500;

    /// <summary>Training scenes rendered and kept in memory.</summary>
    public int TrainScenes { get; init; } = 4000;

    /// <summary>Stop (after a checkpoint) once this many wall seconds have passed in this process; 0 = no limit.</summary>
    public double MaxSeconds { get; init; }

    /// <summary>Worker threads of libtorch.</summary>
    public int Threads { get; init; } = 2;

    /// <summary>VQGAN architecture override (from --channels/--embed-dim/--codebook); null = default.</summary>
    public VqganConfig? Vqgan { get; init; }

    /// <summary>64 px crops of 128 px scenes per VQGAN batch; −1 = half the batch.</summary>
    public int Crops { get; init; } = -1;

    /// <summary>VQGAN codebook by EMA updates instead of a codebook loss (default false).</summary>
    public bool EmaCodebook { get; init; }

    /// <summary>VQGAN loss weight of shape pixels (those unlike the corner colour); 1 = unweighted (default).</summary>
    public double ShapeWeight { get; init; } = 1;

    /// <summary>
    /// text+base only: keep the T5 encoder fixed and train the base transformer alone (for continuing a run
    /// after the SR stage was trained on that T5's embeddings, which must then not change).
    /// </summary>
    public bool FreezeText { get; init; }

    /// <summary>
    /// text+base only: start the T5 from this text+base stage folder's trained encoder (with
    /// <see cref="FreezeText"/>, a new base trained on an existing T5 keeps an SR stage trained on it valid).
    /// </summary>
    public string? InitTextFrom { get; init; }

    /// <summary>
    /// vqgan only: train the decoder alone, from the trained VQGAN in this stage folder (its config and weights);
    /// the encoder and codebook stay fixed, so every image keeps its tokens and transformers trained on them stay
    /// valid. Crops of 128 px scenes then sit on the token grid, as the encoder sees them in serving.
    /// </summary>
    public string? DecoderFrom { get; init; }

    /// <summary>
    /// A new run starts from the stage in this folder (its configs and weights): text+base both the T5 and the base
    /// transformer (a fine-tune of a trained base, e.g. with <see cref="CorruptVisible"/>); sr the SR transformer
    /// (e.g. a whole-grid continuation of an imported SR, whose weights-only checkpoint cannot be resumed).
    /// </summary>
    public string? InitFrom { get; init; }

    /// <summary>
    /// Transformer stages: the share of visible (unmasked) tokens replaced by a random code in training, each scored
    /// against its true code as masked positions are. Teaches the transformer to judge the tokens it is shown, which
    /// is what letting committed tokens compete again (DecodingOptions.recompete) reads; 0 = masked-only loss.
    /// </summary>
    public double CorruptVisible { get; init; }

    /// <summary>sr only: pixel size of the scenes whose tokens a new SR run learns (grid = size ÷ the VQGAN's downsampling; 128 or 256).</summary>
    public int SrSize { get; init; } = 128;

    /// <summary>
    /// sr only: train on random <c>SrCrop</c>×<c>SrCrop</c> windows of the SR grid (each token with its own position
    /// embedding and low-res token beneath; the whole low-res grid and the text as context); 0 = the whole grid.
    /// Self-attention over a 32×32 grid costs 16× a 16×16 window's, which is what makes 256 px trainable on 2 cores.
    /// </summary>
    public int SrCrop { get; init; }

    /// <summary>vqgan only: pixel size of the scenes the 64 px training crops are cut from (128 or 256).</summary>
    public int CropSource { get; init; } = 128;

    /// <summary>Transformer size override of a new run (--d-model/--layers/--mlp-dim); null keeps the stage default.</summary>
    public TransformerSize? TransformerSize { get; init; }

    /// <summary>Model version label for export and fixtures (default "1").</summary>
    public string Version { get; init; } = "1";

    /// <summary>
    /// Export: the version of the VQGAN and T5 an exported transformer's manifest names (default: <see cref="Version"/>),
    /// for a transformer trained over shipped ones, e.g. a new SR over the v5 tokenizer and text encoder.
    /// </summary>
    public string? PairVersion { get; init; }

    public string StageDir(string stage) => Path.Combine(Out, stage);
}

/// <summary>Width, depth and MLP width of a masked transformer (the rest of its config comes from the stage).</summary>
internal sealed record TransformerSize(int DModel, int NumLayers, int MlpDim)
{
    /// <summary>From --d-model, --layers (default 3) and --mlp-dim (default 2 × d-model).</summary>
    public static TransformerSize Of(int dModel, int? layers, int? mlpDim) => new(dModel, layers ?? 3, mlpDim ?? (2 * dModel));
}
