using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using Microsoft.ML.OnnxRuntime;

namespace Muse.Inference;

/// <summary>
/// One ONNX graph of a loaded model version: owns its <see cref="SessionOptions"/> and
/// <see cref="InferenceSession"/>. Create once at start-up (loading is expensive), call <see cref="Run"/> from
/// many threads, dispose at shutdown. Nothing else in the project creates an <see cref="InferenceSession"/>.
/// </summary>
public sealed class OnnxModel : IDisposable
{
    // Providers whose native libraries are missing or failed to load in this process, with the reason. Loading them
    // fails the same way for every later session (and ORT writes an error to stderr each time), so each is tried, or
    // found missing, once per process.
    private static readonly ConcurrentDictionary<ExecutionProvider, string> UnloadableProviders = new();

    private readonly InferenceSession _session;
    private readonly SessionOptions _options;
    private bool _disposed;

    private OnnxModel(InferenceSession session, SessionOptions options, ExecutionProvider provider, string path)
    {
        _session = session;
        _options = options;
        Provider = provider;
        Path = path;
    }

    /// <summary>The execution provider the session actually got.</summary>
    public ExecutionProvider Provider { get; }

    /// <summary>The .onnx file this session was created from (external weights sit beside it).</summary>
    public string Path { get; }

    /// <summary>Input names, in graph order.</summary>
    public IReadOnlyList<string> InputNames => _session.InputNames;

    /// <summary>Output names, in graph order.</summary>
    public IReadOnlyList<string> OutputNames => _session.OutputNames;

    /// <summary>
    /// Loads <paramref name="path"/> with the first provider of <paramref name="options"/> that can be appended;
    /// a provider whose native libraries are missing is logged and skipped, and CPU always works. A GPU provider is
    /// appended only where <see cref="MissingLibrary"/> finds its library and an NVIDIA driver, so a machine without
    /// a GPU gets one informational line per process instead of ONNX Runtime's load error.
    /// </summary>
    public static OnnxModel Load(string path, InferenceOptions options, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        foreach (var provider in options.EffectiveProviders.Append(ExecutionProvider.Cpu).Distinct())
        {
            if (UnloadableProviders.TryGetValue(provider, out var earlier))
            {
                InferenceLog.ProviderUnloadable(logger, provider.ToString(), path, earlier);
                continue;
            }

            if (MissingLibrary(provider) is { } missing)
            {
                // Only the first session of the process to find it missing says so.
                if (UnloadableProviders.TryAdd(provider, missing))
                {
                    InferenceLog.ProviderAbsent(logger, provider.ToString(), missing);
                }

                continue;
            }

            var sessionOptions = new SessionOptions
            {
                GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
                IntraOpNumThreads = options.IntraOpThreads,
                EnableCpuMemArena = options.CpuMemoryArena,
            };
            if (!options.AllowSpinning)
            {
                sessionOptions.AddSessionConfigEntry("session.intra_op.allow_spinning", "0");
            }

            try
            {
                Append(sessionOptions, provider, options.DeviceId);
            }
            catch (OnnxRuntimeException ex)
            {
                // As the ORT factories do: dispose what was half-built, then try the next provider.
                sessionOptions.Dispose();
                UnloadableProviders.TryAdd(provider, ex.Message);
                InferenceLog.ProviderUnavailable(logger, provider.ToString(), path, ex.Message);
                continue;
            }

            try
            {
                var session = new InferenceSession(path, sessionOptions);
                InferenceLog.SessionCreated(logger, path, provider.ToString());
                return new OnnxModel(session, sessionOptions, provider, path);
            }
            catch (OnnxRuntimeException ex) when (provider != ExecutionProvider.Cpu)
            {
                // The provider loaded but cannot take this graph: the next one may.
                sessionOptions.Dispose();
                InferenceLog.ProviderUnavailable(logger, provider.ToString(), path, ex.Message);
            }
            catch
            {
                sessionOptions.Dispose();
                throw;
            }
        }

        throw new InvalidOperationException("Unreachable: the CPU provider is always tried last.");
    }

    /// <summary>
    /// Why <paramref name="provider"/> cannot run here, or null when it may: the CPU provider always may; a GPU
    /// provider needs its library in this build (<c>libonnxruntime_providers_cuda.so</c> or <c>_tensorrt</c> beside
    /// ONNX Runtime; absent from builds with <c>-p:OnnxRuntimeGpu=false</c>) and an NVIDIA driver
    /// (<c>libcuda.so.1</c>, <c>nvcuda.dll</c>). Null is no promise: ONNX Runtime may still fail to load the
    /// provider (a missing CUDA or cuDNN library), and <see cref="Load"/> then logs its reason and moves on.
    /// </summary>
    public static string? MissingLibrary(ExecutionProvider provider)
    {
        if (provider == ExecutionProvider.Cpu)
        {
            return null;
        }

        var (prefix, extension, driver) = OperatingSystem.IsWindows() ? ("", ".dll", "nvcuda.dll")
            : OperatingSystem.IsLinux() ? ("lib", ".so", "libcuda.so.1")
            : ("", "", "");
        if (driver.Length == 0)
        {
            return $"ONNX Runtime has no {provider} provider for {RuntimeInformation.OSDescription}.";
        }

        var library = $"{prefix}onnxruntime_providers_{(provider == ExecutionProvider.TensorRT ? "tensorrt" : "cuda")}{extension}";
        var os = OperatingSystem.IsWindows() ? "win" : "linux";
        var arch = RuntimeInformation.ProcessArchitecture.ToString().ToLowerInvariant();
        string[] folders = [AppContext.BaseDirectory, System.IO.Path.Combine(AppContext.BaseDirectory, "runtimes", $"{os}-{arch}", "native")];
        if (!folders.Any(folder => File.Exists(System.IO.Path.Combine(folder, library))))
        {
            return $"{library} is not part of this build (built with -p:OnnxRuntimeGpu=false?).";
        }

        // The driver is what a machine without a GPU lacks. Loading it has no side effect that ORT would not cause.
        if (!NativeLibrary.TryLoad(driver, out var handle))
        {
            return $"no NVIDIA driver ({driver} not found): this machine has no usable GPU.";
        }

        NativeLibrary.Free(handle);
        return null;
    }

    private static void Append(SessionOptions sessionOptions, ExecutionProvider provider, int deviceId)
    {
        switch (provider)
        {
            case ExecutionProvider.TensorRT:
                sessionOptions.AppendExecutionProvider_Tensorrt(deviceId);
                sessionOptions.AppendExecutionProvider_CUDA(deviceId);
                break;
            case ExecutionProvider.Cuda:
                sessionOptions.AppendExecutionProvider_CUDA(deviceId);
                break;
            default:
                break;
        }
    }

    /// <summary>
    /// Runs the graph. <paramref name="cancellationToken"/> terminates a native run in flight.
    /// </summary>
    /// <remarks>The caller owns the returned values and must dispose them.</remarks>
    public IDisposableReadOnlyCollection<OrtValue> Run(
        IReadOnlyDictionary<string, OrtValue> inputs, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        cancellationToken.ThrowIfCancellationRequested();
        using var runOptions = new RunOptions();
        // Terminate is the only way to stop a native Run; the registration is disposed before runOptions.
        using var stop = cancellationToken.Register(static o => ((RunOptions)o!).Terminate = true, runOptions);
        try
        {
            return _session.Run(runOptions, inputs, _session.OutputNames);
        }
        catch (OnnxRuntimeException) when (cancellationToken.IsCancellationRequested)
        {
            throw new OperationCanceledException(cancellationToken);
        }
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _session.Dispose();
        _options.Dispose();
    }
}
