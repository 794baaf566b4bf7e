using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Muse.Hosting;

/// <summary>
/// With <see cref="MuseHostingOptions.StopWhenStdinCloses"/>, stops the process gracefully once its standard input
/// reaches end of file. A launcher that keeps the write end of a stdin pipe (the local cluster does) thereby takes
/// its children with it however it ends: the kernel closes the pipe even when the launcher is SIGKILLed, which no
/// signal handler of the launcher can catch.
/// </summary>
internal sealed class ParentWatch(IOptions<MuseHostingOptions> options, IHostApplicationLifetime lifetime, ILogger<ParentWatch> logger)
    : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!options.Value.StopWhenStdinCloses)
        {
            return;
        }

        await using var stdin = Console.OpenStandardInput();
        var buffer = new byte[256];
        try
        {
            // Whatever the launcher writes is ignored: only the end of the stream means something.
            while (await stdin.ReadAsync(buffer, stoppingToken) > 0)
            {
            }
        }
        catch (OperationCanceledException)
        {
            return; // the host is stopping anyway
        }

        HostingLog.StdinClosed(logger);
        lifetime.StopApplication();
    }
}
