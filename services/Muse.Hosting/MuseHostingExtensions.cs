using Grpc.AspNetCore.Server;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Muse.Hosting;

/// <summary>
/// The shared host of every MuseGrpc process, as chainable extension methods (the ServiceDefaults pattern).
/// Model loading is not here: stage processes add it with Muse.Inference's <c>AddMuseStage</c>, so a process that
/// runs no model (the orchestrator) carries no ONNX Runtime.
/// </summary>
public static class MuseHostingExtensions
{
    /// <summary>Tag of health checks that say the process is alive.</summary>
    public const string LiveTag = "live";

    /// <summary>Tag of health checks that say the process can serve (its models are loaded).</summary>
    public const string ReadyTag = "ready";

    /// <summary>
    /// Everything a MuseGrpc process shares, each part also callable on its own:
    /// <see cref="ConfigureMuseKestrel"/>, <see cref="ConfigureMuseLogging"/>, <see cref="ConfigureMuseTelemetry"/>,
    /// <see cref="AddMuseGrpc"/>, <see cref="AddMuseHealthChecks"/>, the <c>MUSE_LISTENING &lt;url&gt;</c>
    /// stdout line once Kestrel listens (and <c>MUSE_METRICS &lt;url&gt;</c> for the optional metrics listener), and the optional stop on stdin EOF (<see cref="ParentWatch"/>). Calling it
    /// twice has no further effect.
    /// </summary>
    public static TBuilder AddMuseDefaults<TBuilder>(this TBuilder builder)
        where TBuilder : IHostApplicationBuilder
    {
        ArgumentNullException.ThrowIfNull(builder);
        if (builder.Services.Any(d => d.ServiceType == typeof(MuseDefaultsMarker)))
        {
            return builder;
        }

        builder.Services.AddSingleton<MuseDefaultsMarker>();
        builder.Services.AddOptions<MuseHostingOptions>()
            .Bind(builder.Configuration.GetSection(MuseHostingOptions.Section))
            .ValidateDataAnnotations()
            .ValidateOnStart();

        builder
            .ConfigureMuseKestrel()
            .ConfigureMuseLogging()
            .ConfigureMuseTelemetry()
            .AddMuseGrpc()
            .AddMuseHealthChecks();
        builder.Services.AddHostedService<ListeningAnnouncer>();
        builder.Services.AddHostedService<ParentWatch>();
        return builder;
    }

    /// <summary>
    /// Kestrel speaks HTTP/2 only, in cleartext (h2c; TLS ends at the ingress). Addresses come from the standard
    /// <c>ASPNETCORE_URLS</c> / <c>--urls</c> / <c>ASPNETCORE_HTTP_PORTS</c> / <c>Kestrel:Endpoints</c>; when none
    /// is set the default is <see cref="MuseHostingOptions.DefaultUrl"/> (loopback, ephemeral port). With
    /// <see cref="MuseHostingOptions.MetricsUrl"/> set, one more listener speaks HTTP/1.1 for Prometheus
    /// (<see cref="MuseMetricsEndpoint"/>).
    /// </summary>
    public static TBuilder ConfigureMuseKestrel<TBuilder>(this TBuilder builder)
        where TBuilder : IHostApplicationBuilder
    {
        ArgumentNullException.ThrowIfNull(builder);
        var configuration = builder.Configuration;
        var hasAddress = !string.IsNullOrWhiteSpace(configuration["urls"])
            || !string.IsNullOrWhiteSpace(configuration["http_ports"])
            || !string.IsNullOrWhiteSpace(configuration["https_ports"])
            || configuration.GetSection("Kestrel:Endpoints").GetChildren().Any();
        if (!hasAddress)
        {
            configuration.AddInMemoryCollection([new("urls", MuseHostingOptions.DefaultUrl)]);
        }

        builder.Services.Configure<KestrelServerOptions>(kestrel =>
            kestrel.ConfigureEndpointDefaults(listen => listen.Protocols = HttpProtocols.Http2));
        var metricsUrl = configuration[$"{MuseHostingOptions.Section}:{nameof(MuseHostingOptions.MetricsUrl)}"];
        if (!string.IsNullOrWhiteSpace(metricsUrl))
        {
            AddMetricsListener(builder, metricsUrl);
        }

        return builder;
    }

    private static void AddMetricsListener(IHostApplicationBuilder builder, string metricsUrl) =>
        builder.AddMuseHttp1Listener(new MuseMetricsEndpoint(), metricsUrl);

    /// <summary>
    /// Adds <paramref name="listener"/> as one more Kestrel endpoint at <paramref name="url"/> (e.g.
    /// <c>http://127.0.0.1:0</c>) speaking HTTP/1.1, registers it as a singleton of its own type and as a
    /// <see cref="MuseHttp1Listener"/>, and announces it on stdout once bound. Call after
    /// <see cref="ConfigureMuseKestrel"/>, once per listener.
    /// </summary>
    public static TBuilder AddMuseHttp1Listener<TBuilder, TListener>(this TBuilder builder, TListener listener, string url)
        where TBuilder : IHostApplicationBuilder
        where TListener : MuseHttp1Listener
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(listener);
        ArgumentException.ThrowIfNullOrWhiteSpace(url);
        var configuration = builder.Configuration;
        var settings = new Dictionary<string, string?>(StringComparer.Ordinal)
        {
            [$"Kestrel:Endpoints:{listener.EndpointName}:Url"] = url,
            [$"Kestrel:Endpoints:{listener.EndpointName}:Protocols"] = nameof(HttpProtocols.Http1),
        };
        // Kestrel binds either the `urls` addresses or its own endpoints, never both (it ignores `urls` with a
        // warning), so with an extra listener the gRPC addresses become Kestrel endpoints too, keeping the HTTP/2
        // default. A second listener finds that done.
        if (!configuration.GetSection("Kestrel:Endpoints").GetChildren().Any())
        {
            var urls = (configuration["urls"] ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Concat((configuration["http_ports"] ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                    .Select(port => $"http://*:{port}"));
            var i = 0;
            foreach (var grpcUrl in urls)
            {
                settings[$"Kestrel:Endpoints:MuseGrpc{i++}:Url"] = grpcUrl;
            }

            settings["urls"] = "";
            settings["http_ports"] = "";
        }

        configuration.AddInMemoryCollection(settings);
        builder.Services.AddSingleton(listener);
        builder.Services.AddSingleton<MuseHttp1Listener>(listener);
        builder.Services.AddOptions<KestrelServerOptions>().Configure(kestrel =>
        {
            kestrel.ConfigurationLoader ??= kestrel.Configure(configuration.GetSection("Kestrel"));
            kestrel.ConfigurationLoader.Endpoint(listener.EndpointName, config =>
            {
                // Endpoint defaults say HTTP/2 for gRPC; this listener is for HTTP/1.1 clients.
                config.ListenOptions.Protocols = HttpProtocols.Http1;
                listener.Bind(config.ListenOptions);
            });
        });
        return builder;
    }

    /// <summary>
    /// Console logging in the format of <see cref="MuseHostingOptions.LogFormat"/> (JSON lines by default), UTC
    /// ISO-8601 timestamps, scopes included.
    /// </summary>
    public static TBuilder ConfigureMuseLogging<TBuilder>(this TBuilder builder)
        where TBuilder : IHostApplicationBuilder
    {
        ArgumentNullException.ThrowIfNull(builder);
        var options = builder.Configuration.GetSection(MuseHostingOptions.Section).Get<MuseHostingOptions>()
            ?? new MuseHostingOptions();
        if (options.LogFormat == ConsoleLogFormat.Simple)
        {
            builder.Logging.AddSimpleConsole(console =>
            {
                console.SingleLine = true;
                console.UseUtcTimestamp = true;
                console.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ ";
            });
        }
        else
        {
            builder.Logging.AddJsonConsole(console =>
            {
                console.IncludeScopes = true;
                console.UseUtcTimestamp = true;
                console.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ";
            });
        }

        return builder;
    }

    /// <summary>
    /// OpenTelemetry logs, metrics (ASP.NET Core, Kestrel, <see cref="MuseTelemetry.MeterName"/>) and traces
    /// (ASP.NET Core without health probes, <see cref="MuseTelemetry.ActivitySource"/>). The OTLP exporter is
    /// switched on only when <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set; the service name is the application name
    /// unless <c>OTEL_SERVICE_NAME</c> says otherwise.
    /// </summary>
    public static TBuilder ConfigureMuseTelemetry<TBuilder>(this TBuilder builder)
        where TBuilder : IHostApplicationBuilder
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Logging.AddOpenTelemetry(logging =>
        {
            logging.IncludeFormattedMessage = true;
            logging.IncludeScopes = true;
        });

        var telemetry = builder.Services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService(builder.Environment.ApplicationName))
            .WithMetrics(metrics =>
            {
                metrics
                    .AddAspNetCoreInstrumentation()
                    .AddMeter("Microsoft.AspNetCore.Server.Kestrel", MuseTelemetry.MeterName);
                if (!string.IsNullOrWhiteSpace(builder.Configuration[$"{MuseHostingOptions.Section}:{nameof(MuseHostingOptions.MetricsUrl)}"]))
                {
                    metrics.AddPrometheusExporter();
                }
            })
            .WithTracing(tracing => tracing
                .AddAspNetCoreInstrumentation(aspNetCore =>
                    aspNetCore.Filter = context => !IsHealthProbe(context.Request.Path))
                .AddSource(MuseTelemetry.SourceName));

        if (!string.IsNullOrWhiteSpace(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]))
        {
            telemetry.UseOtlpExporter();
        }

        return builder;
    }

    /// <summary>
    /// gRPC with the message-size limits of <see cref="MuseHostingOptions"/>, the
    /// <see cref="ErrorMappingInterceptor"/> (registered once, for every service of the process) and server
    /// reflection.
    /// </summary>
    public static TBuilder AddMuseGrpc<TBuilder>(this TBuilder builder)
        where TBuilder : IHostApplicationBuilder
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddGrpc(grpc => grpc.Interceptors.Add<ErrorMappingInterceptor>());
        builder.Services.AddOptions<GrpcServiceOptions>()
            .Configure<IOptions<MuseHostingOptions>>((grpc, hosting) =>
            {
                grpc.MaxReceiveMessageSize = hosting.Value.MaxReceiveMessageSize;
                grpc.MaxSendMessageSize = hosting.Value.MaxSendMessageSize;
            });
        builder.Services.AddGrpcReflection();
        return builder;
    }

    /// <summary>
    /// The standard <c>grpc.health.v1</c> service over ASP.NET Core health checks, with a <c>live</c> self check.
    /// Health service names: <c>""</c> (every check), <c>live</c>, <c>ready</c> (checks with those tags).
    /// </summary>
    public static TBuilder AddMuseHealthChecks<TBuilder>(this TBuilder builder)
        where TBuilder : IHostApplicationBuilder
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddGrpcHealthChecks(health =>
            {
                health.Services.Map(LiveTag, result => result.Tags.Contains(LiveTag));
                health.Services.Map(ReadyTag, result => result.Tags.Contains(ReadyTag));
            })
            .AddCheck("self", () => HealthCheckResult.Healthy(), [LiveTag]);
        return builder;
    }

    /// <summary>
    /// Maps <c>grpc.health.v1.Health</c>, server reflection and, when <see cref="MuseHostingOptions.MetricsUrl"/> is
    /// set, the Prometheus scrape endpoint <see cref="MuseMetricsEndpoint.Path"/>.
    /// </summary>
    public static TEndpoints MapMuseDefaults<TEndpoints>(this TEndpoints endpoints)
        where TEndpoints : IEndpointRouteBuilder
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        endpoints.MapGrpcHealthChecksService();
        endpoints.MapGrpcReflectionService();
        if (endpoints.ServiceProvider.GetService<MuseMetricsEndpoint>() is not null)
        {
            endpoints.MapPrometheusScrapingEndpoint(MuseMetricsEndpoint.Path);
        }

        return endpoints;
    }

    private static bool IsHealthProbe(PathString path) =>
        path.StartsWithSegments("/grpc.health.v1.Health", StringComparison.Ordinal);

    /// <summary>Marks that <see cref="AddMuseDefaults"/> ran, so a second call adds nothing twice.</summary>
    private sealed class MuseDefaultsMarker;
}
