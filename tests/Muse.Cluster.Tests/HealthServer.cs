using System.Net;
using Grpc.HealthCheck;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;

namespace Muse.Cluster.Tests;

/// <summary>
/// A real in-process <c>grpc.health.v1</c> server on a loopback port, for <c>/bin/sh</c> children to claim as their
/// address: the launcher checks the health of whatever address a child prints.
/// </summary>
internal sealed class HealthServer : IAsyncDisposable
{
    private readonly WebApplication _server;

    private HealthServer(WebApplication server, HealthServiceImpl health, string address)
    {
        _server = server;
        Health = health;
        Address = address;
    }

    /// <summary>The health service; set the status of service <c>""</c> to what the launcher should see.</summary>
    public HealthServiceImpl Health { get; }

    /// <summary>The server's address, e.g. <c>http://127.0.0.1:45123</c>.</summary>
    public string Address { get; }

    public static async Task<HealthServer> StartAsync()
    {
        var health = new HealthServiceImpl();
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, l => l.Protocols = HttpProtocols.Http2));
        builder.Services.AddGrpc();
        builder.Services.AddSingleton(health);
        var server = builder.Build();
        server.MapGrpcService<HealthServiceImpl>();
        await server.StartAsync();
        var address = server.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new HealthServer(server, health, address);
    }

    public ValueTask DisposeAsync() => _server.DisposeAsync();
}
