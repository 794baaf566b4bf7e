using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Muse.Hosting;

/// <summary>
/// Writes <c>MUSE_LISTENING &lt;url&gt;</c> to stdout, one line per bound address, once Kestrel listens. The
/// local cluster launcher parses these lines to learn ephemeral ports, so the format is a contract: do not
/// change it. Written with <see cref="Console.Out"/> directly (not a logger) so it is never reformatted. The optional
/// HTTP/1.1 metrics listener is announced as <c>MUSE_METRICS &lt;url&gt;</c> instead, so launchers never take it for
/// the gRPC address; so is every other <see cref="MuseHttp1Listener"/>, under its own prefix.
/// </summary>
internal sealed class ListeningAnnouncer(
    IServer server, IHostApplicationLifetime lifetime, ILogger<ListeningAnnouncer> logger, IEnumerable<MuseHttp1Listener> http1Listeners)
    : IHostedService
{
    /// <summary>Prefix of the start-up line.</summary>
    public const string Prefix = "MUSE_LISTENING";

    public Task StartAsync(CancellationToken cancellationToken)
    {
        // Hosted services start before the server; ApplicationStarted fires once every address is bound.
        lifetime.ApplicationStarted.Register(Announce);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private void Announce()
    {
        var addresses = server.Features.Get<IServerAddressesFeature>()?.Addresses ?? [];
        var others = http1Listeners
            .Select(l => (l.Prefix, Url: l.Url?.ToString().TrimEnd('/')))
            .Where(l => l.Url is not null)
            .ToList();
        foreach (var address in addresses.Where(a => !others.Any(o => string.Equals(a.TrimEnd('/'), o.Url, StringComparison.OrdinalIgnoreCase))))
        {
            HostingLog.Listening(logger, address);
            Console.Out.WriteLine($"{Prefix} {address}");
        }

        foreach (var (prefix, url) in others)
        {
            HostingLog.ServingHttp1(logger, prefix, url!);
            Console.Out.WriteLine($"{prefix} {url}");
        }

        Console.Out.Flush();
    }
}
