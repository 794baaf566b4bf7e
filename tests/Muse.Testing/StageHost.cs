using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Muse.Testing;

/// <summary>
/// A stage (or any MuseGrpc) app running in-process on real Kestrel at <c>http://127.0.0.1:&lt;ephemeral&gt;</c>,
/// wired with the same extension methods as its Program.cs, reached through real gRPC over loopback:
/// <code>
/// await using var host = await StageHost.StartAsync(
///     builder => { builder.AddMuseStage(Stages.TextEncoder); builder.AddTextEncoder(); },
///     app => app.MapMuseStage&lt;TextEncoderService&gt;());
/// var client = new TextEncoder.TextEncoderClient(host.Channel);
/// </code>
/// Owns the app and <see cref="Channel"/>; dispose it to stop both.
/// </summary>
public sealed class StageHost : IAsyncDisposable
{
    /// <summary>Largest message the test channel sends or receives: 64 MiB, above any server limit.</summary>
    public const int ChannelMessageSize = 64 * 1024 * 1024;

    private StageHost(WebApplication app, Uri address)
    {
        App = app;
        Address = address;
        Channel = CreateChannel();
    }

    /// <summary>The running app.</summary>
    public WebApplication App { get; }

    /// <summary>The app's services (e.g. <c>StageModels</c>).</summary>
    public IServiceProvider Services => App.Services;

    /// <summary>The bound address, e.g. <c>http://127.0.0.1:45123</c>.</summary>
    public Uri Address { get; }

    /// <summary>A channel to <see cref="Address"/> (HTTP/2 cleartext), owned by the host.</summary>
    public GrpcChannel Channel { get; }

    /// <summary>
    /// Configuration every test host starts with, before <c>configuration</c> overrides: loopback ephemeral URL,
    /// the repository's <c>models/repository</c>, the CPU provider with one intra-op thread, warnings-only simple
    /// console logs.
    /// </summary>
    public static IReadOnlyDictionary<string, string?> DefaultConfiguration => new Dictionary<string, string?>
    {
        ["urls"] = "http://127.0.0.1:0",
        ["Muse:Inference:Repository"] = Repo.ModelRepository,
        ["Muse:Inference:Providers:0"] = "Cpu",
        ["Muse:Inference:IntraOpThreads"] = "1",
        ["Muse:Hosting:LogFormat"] = "Simple",
        ["Logging:LogLevel:Default"] = "Warning",
        ["Logging:LogLevel:Microsoft.Hosting.Lifetime"] = "Warning",
    };

    /// <summary>
    /// Builds and starts an app: <paramref name="configureBuilder"/> gets a <see cref="WebApplicationBuilder"/>
    /// whose configuration is <see cref="DefaultConfiguration"/> overlaid with <paramref name="configuration"/>
    /// (a null value removes a default); <paramref name="configureApp"/> maps endpoints.
    /// </summary>
    /// <remarks>The caller owns the returned host and must dispose it.</remarks>
    public static async Task<StageHost> StartAsync(
        Action<WebApplicationBuilder> configureBuilder,
        Action<WebApplication> configureApp,
        IReadOnlyDictionary<string, string?>? configuration = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(configureBuilder);
        ArgumentNullException.ThrowIfNull(configureApp);

        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            Args = [],
            ContentRootPath = AppContext.BaseDirectory,
        });
        var settings = new Dictionary<string, string?>(DefaultConfiguration, StringComparer.OrdinalIgnoreCase);
        foreach (var (key, value) in configuration ?? new Dictionary<string, string?>())
        {
            settings[key] = value;
        }

        builder.Configuration.AddInMemoryCollection(settings.Where(s => s.Value is not null));
        configureBuilder(builder);

        var app = builder.Build();
        try
        {
            configureApp(app);
            await app.StartAsync(cancellationToken);
            var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()
                ?? throw new InvalidOperationException("The server exposes no addresses.");
            var address = addresses.Addresses.First();
            return new StageHost(app, new Uri(address));
        }
        catch
        {
            await app.DisposeAsync();
            throw;
        }
    }

    /// <summary>A new channel to <see cref="Address"/>; the caller owns it.</summary>
    public GrpcChannel CreateChannel(GrpcChannelOptions? options = null)
    {
        options ??= new GrpcChannelOptions
        {
            MaxReceiveMessageSize = ChannelMessageSize,
            MaxSendMessageSize = ChannelMessageSize,
        };
        return GrpcChannel.ForAddress(Address, options);
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        Channel.Dispose();
        await App.StopAsync();
        await App.DisposeAsync();
    }
}
