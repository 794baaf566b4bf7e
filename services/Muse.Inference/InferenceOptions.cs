using System.ComponentModel.DataAnnotations;

namespace Muse.Inference;

/// <summary>
/// Configuration section <c>Muse:Inference</c>: which models a stage process loads and how its sessions run.
/// </summary>
public sealed class InferenceOptions
{
    /// <summary>Configuration section name.</summary>
    public const string Section = "Muse:Inference";

    /// <summary>
    /// Folder holding <c>&lt;name&gt;/&lt;version&gt;/manifest.json</c>. Default: the first <c>models/repository</c>
    /// found walking up from the working directory or the application folder.
    /// </summary>
    public string? Repository { get; set; }

    /// <summary>Model versions to load, as <c>name/version</c>. Empty = every model of this process's stage.</summary>
    public List<string> Models { get; set; } = [];

    /// <summary>
    /// Execution providers to try, in order (<c>TensorRT</c>, <c>CUDA</c>, <c>CPU</c>); the first that loads wins and
    /// is logged. Empty (the default) means CUDA then CPU. CPU is always the last resort.
    /// </summary>
    /// <remarks>
    /// The default lives in <see cref="EffectiveProviders"/>, not in this list: configuration binding appends to a
    /// non-empty list, so a configured <c>[Cpu]</c> would otherwise become <c>[Cuda, Cpu, Cpu]</c>.
    /// </remarks>
    public List<ExecutionProvider> Providers { get; set; } = [];

    /// <summary>The providers to try: <see cref="Providers"/>, or CUDA then CPU when none are configured.</summary>
    public IReadOnlyList<ExecutionProvider> EffectiveProviders =>
        Providers.Count > 0 ? Providers : [ExecutionProvider.Cuda, ExecutionProvider.Cpu];

    /// <summary>CUDA/TensorRT device id. Default 0.</summary>
    [Range(0, 64)]
    public int DeviceId { get; set; }

    /// <summary>Threads used inside one operator; 0 = ONNX Runtime's default (one per core).</summary>
    [Range(0, 1024)]
    public int IntraOpThreads { get; set; }

    /// <summary>
    /// Whether idle intra-op threads spin for more work (ONNX Runtime's default, true). Spinning shortens the gap between
    /// operators of one session but burns the cores other sessions, processes or tenants need; false makes idle
    /// threads sleep.
    /// </summary>
    public bool AllowSpinning { get; set; } = true;

    /// <summary>
    /// Whether each session keeps its activation memory in ONNX Runtime's CPU arena between runs (default true, ORT's
    /// default: no allocation per run). The arena never shrinks, so every session holds its own peak: with full-size
    /// models (4096-token attention, 512 px convolutions) false returns it after each run and the process peaks at the
    /// largest single run instead of the sum of them.
    /// </summary>
    public bool CpuMemoryArena { get; set; } = true;

    /// <summary>
    /// Bytes of memory the weights of this process's models may take; a model that would exceed it is refused at load
    /// (<see cref="ModelTooLargeException"/>). 0 (the default) = the memory the machine has available at load.
    /// </summary>
    [Range(0, long.MaxValue)]
    public long MemoryBudgetBytes { get; set; }
}

/// <summary>An ONNX Runtime execution provider.</summary>
public enum ExecutionProvider
{
    /// <summary>The default CPU provider; always available.</summary>
    Cpu,

    /// <summary>NVIDIA CUDA (needs the CUDA libraries of the ORT GPU package).</summary>
    Cuda,

    /// <summary>NVIDIA TensorRT (falls through to CUDA/CPU for unsupported nodes).</summary>
    TensorRT,
}
