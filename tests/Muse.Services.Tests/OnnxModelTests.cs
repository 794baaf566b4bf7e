using Microsoft.Extensions.Logging;
using Muse.Inference;
using Muse.Testing;

namespace Muse.Services.Tests;

public sealed class OnnxModelTests
{
    [Fact]
    public void Load_ProviderThatFailsToLoad_IsTriedOncePerProcessAndCpuServes()
    {
        var path = Path.Combine(Repo.Model("muse-random-t5"), "model.onnx");
        var options = new InferenceOptions { Providers = [ExecutionProvider.Cuda], IntraOpThreads = 1 };
        var first = new ListLogger();
        var second = new ListLogger();

        using var a = OnnxModel.Load(path, options, first);
        using var b = OnnxModel.Load(path, options, second);

        Assert.Equal(a.Provider, b.Provider);
        if (a.Provider == ExecutionProvider.Cuda)
        {
            return; // a GPU machine: nothing fell back
        }

        // Whichever session of the process met the failure first said why (at most one line for the process: the
        // provider's library or the NVIDIA driver is missing, or ORT's reason); the later one skipped CUDA without
        // asking again, and says so only at debug level.
        Assert.Equal(ExecutionProvider.Cpu, b.Provider);
        Assert.Contains(second.Lines, l => l.Message.Contains("failed to load earlier in this process", StringComparison.Ordinal) && l.Message.Contains("Cuda", StringComparison.Ordinal));
        Assert.DoesNotContain(second.Lines, l => l.Level >= LogLevel.Information && l.Message.Contains("Cuda", StringComparison.Ordinal));
        Assert.DoesNotContain(second.Lines, l => l.Message.Contains("is unavailable", StringComparison.Ordinal));
    }

    [Fact]
    public void MissingLibrary_Cpu_IsNeverMissing()
    {
        Assert.Null(OnnxModel.MissingLibrary(ExecutionProvider.Cpu));
    }

    [Fact]
    public void MissingLibrary_GpuProviderOnAMachineWithoutDriver_SaysWhatIsMissing()
    {
        var driver = OperatingSystem.IsWindows() ? "nvcuda.dll" : "libcuda.so.1";
        if (System.Runtime.InteropServices.NativeLibrary.TryLoad(driver, out _))
        {
            return; // a GPU machine
        }

        var reason = OnnxModel.MissingLibrary(ExecutionProvider.Cuda);

        Assert.NotNull(reason);
        Assert.True(reason.Contains(driver, StringComparison.Ordinal) || reason.Contains("not part of this build", StringComparison.Ordinal), reason);
    }

    private sealed class ListLogger : ILogger
    {
        public List<(LogLevel Level, string Message)> Lines { get; } = [];

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Lines.Add((logLevel, formatter(state, exception)));
    }
}
