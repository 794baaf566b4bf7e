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

    /// <summary>
    /// Writes <paramref name="png"/> to a file, runs <c>muse reproduce</c> on it against <paramref name="orchestrator"/>
    /// and asserts that the reproduced file has the same bytes and that the command said so.
    /// </summary>
    public static async Task AssertReproducesAsync(byte[] png, Uri orchestrator)
    {
        var folder = Directory.CreateTempSubdirectory("muse-reproduce-").FullName;
        try
        {
            var original = Path.Combine(folder, "image.png");
            await File.WriteAllBytesAsync(original, png);
            var copy = Path.Combine(folder, "again.png");

            var (exitCode, stdout, stderr) = await RunAsync(
                "reproduce", original, "--out", copy, "--json", "--endpoint", Muse.Cluster.ListeningLine.Format(orchestrator));

            Assert.True(exitCode == 0, stdout + stderr);
            Assert.Equal(png, await File.ReadAllBytesAsync(copy));
            Assert.Contains("\"identical\": \"yes\"", stdout, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
