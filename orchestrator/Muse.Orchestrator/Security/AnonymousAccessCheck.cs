using System.Net;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Options;
using Muse.Hosting.Security;

namespace Muse.Orchestrator.Security;

/// <summary>
/// Without API keys, the orchestrator serves anyone who reaches it; that is only allowed on loopback. Once Kestrel has
/// bound its addresses (before the first request is admitted: <see cref="MuseAccess"/> refuses anonymous calls on
/// other addresses anyway), any non-loopback address without <see cref="MuseSecurityOptions.AllowAnonymous"/> stops
/// the process with a message that says why and what to do.
/// </summary>
internal sealed class AnonymousAccessCheck(
    IServer server, IOptions<MuseSecurityOptions> options, MuseAccess access, ILogger<AnonymousAccessCheck> logger)
    : IHostedLifecycleService
{
    public Task StartedAsync(CancellationToken cancellationToken)
    {
        if (access.RequiresKeys)
        {
            return Task.CompletedTask;
        }

        var addresses = server.Features.Get<IServerAddressesFeature>()?.Addresses ?? [];
        var exposed = addresses.Where(a => !IsLoopback(a)).ToList();
        if (exposed.Count == 0)
        {
            return Task.CompletedTask;
        }

        if (options.Value.AllowAnonymous)
        {
            OrchestratorSecurityLog.AnonymousAllowed(logger, string.Join(", ", exposed));
            return Task.CompletedTask;
        }

        throw new InvalidOperationException(
            $"Refusing to start: the orchestrator listens on {string.Join(", ", exposed)}, which is not loopback, and no API keys are configured, "
            + "so anyone who can reach it could use it. Configure keys (Muse:Security:ApiKeysFile; muse up --api-keys FILE), "
            + "or allow anonymous access explicitly (Muse:Security:AllowAnonymous=true; muse up --allow-anonymous).");
    }

    internal static bool IsLoopback(string address)
    {
        if (!Uri.TryCreate(address, UriKind.Absolute, out var url))
        {
            return false;
        }

        var host = url.Host.Trim('[', ']');
        return string.Equals(host, "localhost", StringComparison.OrdinalIgnoreCase) || (IPAddress.TryParse(host, out var ip) && IPAddress.IsLoopback(ip));
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
