using System.Collections.Concurrent;
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
    // Providers whose native libraries failed to load in this process, with ORT's reason. Loading them fails the
    // same way for every later session (and ORT logs an error each time), so they are tried once per process.
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
    /// a provider whose native libraries are missing is logged and skipped, and CPU always works.
    /// </summary>
    public static OnnxModel Load(string path, InferenceOptions options, ILogger logger)
    {
        foreach (var provider in options.EffectiveProviders.Append(ExecutionProvider.Cpu).Distinct())
        {
            if (UnloadableProviders.TryGetValue(provider, out var earlier))
            {
                InferenceLog.ProviderUnloadable(logger, provider.ToString(), path, earlier);
                continue;
            }

            var sessionOptions = new SessionOptions
            {
                GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
                IntraOpNumThreads = options.IntraOpThreads,
            };
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
