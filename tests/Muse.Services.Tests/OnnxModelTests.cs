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

        // Whichever session of the process met the failure first logged ORT's reason; the later one skipped CUDA
        // without asking ORT again, and says why.
        Assert.Equal(ExecutionProvider.Cpu, b.Provider);
        Assert.Contains(second.Lines, l => l.Contains("failed to load earlier in this process", StringComparison.Ordinal) && l.Contains("Cuda", StringComparison.Ordinal));
        Assert.DoesNotContain(second.Lines, l => l.Contains("is unavailable", StringComparison.Ordinal));
    }

    private sealed class ListLogger : ILogger
    {
        public List<string> Lines { get; } = [];

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Lines.Add(formatter(state, exception));
    }
}
