using System.Diagnostics;
using Grpc.Health.V1;
using Grpc.Net.Client;
using Muse.Protos.V1;
using Muse.Testing;

namespace Muse.Services.Tests;

/// <summary>
/// The stage binaries themselves, as the local cluster launcher runs them: a child process that prints
/// <c>MUSE_LISTENING &lt;url&gt;</c> once it serves, reached over h2c at that URL.
/// </summary>
public sealed class ProgramTests
{
    [Theory]
    [InlineData("Muse.TextEncoder", "muse-random-t5")]
    [InlineData("Muse.ImageTokenizer", "muse-random-vqgan")]
    public async Task Program_Started_PrintsListeningLineAndServesHealthAndStageInfo(string project, string model)
    {
        using var process = Start(project);
        try
        {
            var address = await ReadListeningAddressAsync(process);

            using var channel = GrpcChannel.ForAddress(address);
            var health = await new Health.HealthClient(channel).CheckAsync(new HealthCheckRequest { Service = "ready" });
            var info = await new StageInfo.StageInfoClient(channel).GetStageInfoAsync(new GetStageInfoRequest());

            Assert.StartsWith("http://127.0.0.1:", address, StringComparison.Ordinal);
            Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, health.Status);
            Assert.Contains(info.Models, m => m.Name == model);
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            // Bounded: a killed child that never exits must not hang the run.
            using var giveUp = new CancellationTokenSource(TimeSpan.FromMinutes(1));
            await process.WaitForExitAsync(giveUp.Token);
        }
    }

    [Fact]
    public async Task Program_StopWhenStdinCloses_ExitsCleanlyOnceItsLauncherIsGone()
    {
        // What a SIGKILLed launcher leaves behind: the write end of the child's stdin pipe closes.
        using var process = Start("Muse.TextEncoder", "--Muse:Hosting:StopWhenStdinCloses=true");
        try
        {
            await ReadListeningAddressAsync(process);
            Assert.False(process.HasExited);

            process.StandardInput.Close();

            using var giveUp = new CancellationTokenSource(TimeSpan.FromMinutes(1));
            await process.WaitForExitAsync(giveUp.Token);
            Assert.Equal(0, process.ExitCode);
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }
    }

    private static Process Start(string project, params string[] arguments)
    {
        var dll = Path.Combine(Repo.Root, "artifacts", "bin", project, "debug", $"{project}.dll");
        Assert.True(File.Exists(dll), $"{dll} is built with this test project");
        var start = new ProcessStartInfo("dotnet")
        {
            ArgumentList = { "exec", dll, "--Muse:Inference:Providers:0=Cpu", "--Muse:Hosting:LogFormat=Simple" },
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Repo.Root,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment.Remove("ASPNETCORE_URLS");
        return Process.Start(start) ?? throw new InvalidOperationException($"Could not start {dll}.");
    }

    /// <summary>The URL of the first <c>MUSE_LISTENING</c> line; fails if the process exits first.</summary>
    private static async Task<string> ReadListeningAddressAsync(Process process)
    {
        // A bound on the wait, not a timing assertion: a process that never listens must not hang the run.
        using var giveUp = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        _ = process.StandardError.ReadToEndAsync(giveUp.Token);
        while (await process.StandardOutput.ReadLineAsync(giveUp.Token) is { } line)
        {
            if (line.StartsWith("MUSE_LISTENING ", StringComparison.Ordinal))
            {
                // Keep draining stdout so the child never blocks on a full pipe.
                _ = process.StandardOutput.ReadToEndAsync(CancellationToken.None);
                return line["MUSE_LISTENING ".Length..];
            }
        }

        throw new InvalidOperationException($"The process exited with {process.ExitCode} before printing MUSE_LISTENING.");
    }
}
