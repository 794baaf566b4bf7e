using System.Diagnostics;

namespace Muse.EndToEnd.Tests;

/// <summary>The built <c>muse</c> CLI as a separate process.</summary>
internal static class MuseCli
{
    /// <summary>Runs <c>muse</c> with <paramref name="arguments"/>; returns its exit code, stdout and stderr apart.</summary>
    public static async Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(params string[] arguments)
    {
        var muse = Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "..", "..", "Muse.Cli", "debug", "muse.dll"));
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(muse);
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException("dotnet did not start.");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var bound = new CancellationTokenSource(TimeSpan.FromMinutes(3));   // a hang guard for a real process
        await process.WaitForExitAsync(bound.Token);
        return (process.ExitCode, await stdout, await stderr);
    }
}
