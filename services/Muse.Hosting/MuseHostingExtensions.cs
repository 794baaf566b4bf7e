using System.Security.Cryptography.X509Certificates;
using Grpc.AspNetCore.Server;
using Grpc.AspNetCore.Server.Model;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Muse.Hosting.Security;
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
        builder.Services.AddOptions<MuseSecurityOptions>()
            .Bind(builder.Configuration.GetSection(MuseSecurityOptions.Section))
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
    /// Kestrel speaks HTTP/2 only: in cleartext (h2c), or over TLS only when <see cref="TlsOptions"/> names PEM files
    /// (every <c>http://</c> address becomes <c>https://</c>, so plaintext is refused). Addresses come from the standard
    /// <c>ASPNETCORE_URLS</c> / <c>--urls</c> / <c>ASPNETCORE_HTTP_PORTS</c> / <c>Kestrel:Endpoints</c>; when none
    /// is set the default is <see cref="MuseHostingOptions.DefaultUrl"/> (loopback, ephemeral port). Connection limits
    /// (idle time, header time and size, streams per connection, keep-alive pings) come from
    /// <see cref="MuseHostingOptions"/>. With <see cref="MuseHostingOptions.MetricsUrl"/> set, one more listener speaks
    /// HTTP/1.1 for Prometheus (<see cref="MuseMetricsEndpoint"/>).
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

        var tls = configuration.GetSection($"{MuseSecurityOptions.Section}:Tls").Get<TlsOptions>() ?? new TlsOptions();
        if (tls.Enabled)
        {
            UseTls(builder, tls);
        }

        builder.Services.AddOptions<KestrelServerOptions>().Configure<IOptions<MuseHostingOptions>>((kestrel, hosting) =>
        {
            kestrel.ConfigureEndpointDefaults(listen => listen.Protocols = HttpProtocols.Http2);
            var limits = kestrel.Limits;
            var options = hosting.Value;
            limits.KeepAliveTimeout = options.IdleConnectionTimeout;
            limits.RequestHeadersTimeout = options.RequestHeadersTimeout;
            limits.MaxRequestHeadersTotalSize = options.MaxRequestHeadersSize;
            limits.Http2.MaxStreamsPerConnection = options.MaxStreamsPerConnection;
            limits.Http2.MaxRequestHeaderFieldSize = Math.Min(options.MaxRequestHeadersSize, limits.Http2.MaxRequestHeaderFieldSize);
            limits.Http2.KeepAlivePingDelay = options.KeepAlivePing;
            limits.Http2.KeepAlivePingTimeout = options.KeepAlivePing;
        });
        var metricsUrl = configuration[$"{MuseHostingOptions.Section}:{nameof(MuseHostingOptions.MetricsUrl)}"];
        if (!string.IsNullOrWhiteSpace(metricsUrl))
        {
            AddMetricsListener(builder, metricsUrl);
        }

        return builder;
    }

    // The certificate is read once, at start-up: a missing or unreadable file stops the process before it listens.
    private static void UseTls(IHostApplicationBuilder builder, TlsOptions tls)
    {
        if (string.IsNullOrWhiteSpace(tls.CertificateFile) || string.IsNullOrWhiteSpace(tls.KeyFile))
        {
            throw new InvalidOperationException(
                "TLS needs both Muse:Security:Tls:CertificateFile and Muse:Security:Tls:KeyFile (PEM files); only one is set.");
        }

        X509Certificate2 certificate;
        try
        {
            certificate = X509Certificate2.CreateFromPemFile(tls.CertificateFile, tls.KeyFile);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException or ArgumentException)
        {
            throw new InvalidOperationException(
                $"Cannot load the TLS certificate {tls.CertificateFile} with key {tls.KeyFile}: {ex.Message}", ex);
        }

        // Every plaintext address of this process becomes a TLS one; Kestrel then answers only TLS there.
        var configuration = builder.Configuration;
        var settings = new Dictionary<string, string?>(StringComparer.Ordinal)
        {
            ["urls"] = string.Join(';', (configuration["urls"] ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Select(url => url.StartsWith("http://", StringComparison.OrdinalIgnoreCase) ? "https://" + url["http://".Length..] : url)),
        };
        if (!string.IsNullOrWhiteSpace(configuration["http_ports"]))
        {
            settings["https_ports"] = configuration["http_ports"];
            settings["http_ports"] = "";
        }

        configuration.AddInMemoryCollection(settings);
        builder.Services.AddOptions<KestrelServerOptions>().Configure<IOptions<MuseHostingOptions>>((kestrel, hosting) =>
            kestrel.ConfigureHttpsDefaults(https =>
            {
                https.ServerCertificate = certificate;
                // A connection that never completes its handshake is held no longer than one that never sends headers.
                https.HandshakeTimeout = hosting.Value.RequestHeadersTimeout;
            }));
        builder.Services.AddHostedService(services => new TlsAnnouncer(
            certificate, tls.CertificateFile, services.GetRequiredService<ILogger<TlsAnnouncer>>()));
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
                    .Select(port => $"http://*:{port}"))
                .Concat((configuration["https_ports"] ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                    .Select(port => $"https://*:{port}"));
            var i = 0;
            foreach (var grpcUrl in urls)
            {
                settings[$"Kestrel:Endpoints:MuseGrpc{i++}:Url"] = grpcUrl;
            }

            settings["urls"] = "";
            settings["http_ports"] = "";
            settings["https_ports"] = "";
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
                listener.Bind(config.ListenOptions, config.IsHttps);
            });
        });
        return builder;
    }

    /// <summary>Log levels a deployment's configuration overrides: chatty framework categories start at Warning.</summary>
    public static IReadOnlyDictionary<string, string?> DefaultLogLevels { get; } = new Dictionary<string, string?>
    {
        ["Logging:LogLevel:Microsoft.AspNetCore"] = "Warning",
        ["Logging:LogLevel:Grpc"] = "Warning",
        ["Logging:LogLevel:Polly"] = "Warning",
    };

    /// <summary>
    /// Console logging in the format of <see cref="MuseHostingOptions.LogFormat"/> (JSON lines by default), UTC
    /// ISO-8601 timestamps, scopes included.
    /// </summary>
    public static TBuilder ConfigureMuseLogging<TBuilder>(this TBuilder builder)
        where TBuilder : IHostApplicationBuilder
    {
        ArgumentNullException.ThrowIfNull(builder);
        // Defaults at the lowest precedence, as an appsettings.json would set them, so that Logging:LogLevel:* from any
        // other source still wins. ASP.NET Core's per-call lines and Polly's per-attempt lines come on every stage
        // call of every request: next to the Muse events, metrics and traces they add only CPU (and a parent such as
        // `muse up` reads every line).
        builder.Configuration.Sources.Insert(0, new Microsoft.Extensions.Configuration.Memory.MemoryConfigurationSource
        {
            InitialData = DefaultLogLevels,
        });
        ConsoleBuffer.Enlarge();
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
        UseValidatingBinder(builder.Services);
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
    /// Adds to the process's gRPC server what <paramref name="configure"/> registers (e.g. JSON transcoding) after
    /// <see cref="AddMuseGrpc"/>, keeping the validating binder: <c>AddGrpc()</c> alone would bring grpc-dotnet's
    /// binder back.
    /// </summary>
    public static TBuilder AddMuseGrpcFeature<TBuilder>(this TBuilder builder, Action<IGrpcServerBuilder> configure)
        where TBuilder : IHostApplicationBuilder
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configure);
        configure(builder.Services.AddGrpc());
        UseValidatingBinder(builder.Services);
        return builder;
    }

    // Requests that are not valid protobuf are INVALID_ARGUMENT (ValidatingServiceMethodProvider), in place of
    // grpc-dotnet's binder, which would report them as UNKNOWN.
    private static void UseValidatingBinder(IServiceCollection services)
    {
        foreach (var binder in services.Where(IsGrpcBinder).ToList())
        {
            services.Remove(binder);
        }

        services.TryAddEnumerable(ServiceDescriptor.Singleton(typeof(IServiceMethodProvider<>), typeof(ValidatingServiceMethodProvider<>)));
    }

    /// <summary>
    /// Makes this process internal (stage processes call it): with <see cref="MuseSecurityOptions.InternalToken"/> set,
    /// every call but health checks needs the cluster credential (<see cref="InternalTokenInterceptor"/>).
    /// </summary>
    public static TBuilder RequireMuseInternalToken<TBuilder>(this TBuilder builder)
        where TBuilder : IHostApplicationBuilder
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddOptions<GrpcServiceOptions>().Configure(grpc =>
        {
            if (!grpc.Interceptors.Any(i => i.Type == typeof(InternalTokenInterceptor)))
            {
                grpc.Interceptors.Add<InternalTokenInterceptor>();
            }
        });
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
        if (endpoints.ServiceProvider.GetServices<IServiceMethodProvider<Grpc.Health.V1.Health.HealthBase>>().Any(p => IsGrpcBinderType(p.GetType())))
        {
            throw new InvalidOperationException(
                "AddGrpc() was called after AddMuseDefaults(): it added grpc-dotnet's service binder back, and every method would be bound twice. Call AddGrpc() first.");
        }

        endpoints.MapGrpcHealthChecksService();
        endpoints.MapGrpcReflectionService();
        if (endpoints.ServiceProvider.GetService<MuseMetricsEndpoint>() is not null)
        {
            endpoints.MapPrometheusScrapingEndpoint(MuseMetricsEndpoint.Path);
        }

        return endpoints;
    }

    private static bool IsGrpcBinder(ServiceDescriptor descriptor) =>
        descriptor.ServiceType == typeof(IServiceMethodProvider<>) && descriptor.ImplementationType is { } type && IsGrpcBinderType(type);

    private static bool IsGrpcBinderType(Type type) =>
        type.Name == "BinderServiceMethodProvider`1" && type.Assembly == typeof(GrpcServiceOptions).Assembly;

    private static bool IsHealthProbe(PathString path) =>
        path.StartsWithSegments("/grpc.health.v1.Health", StringComparison.Ordinal);

    /// <summary>Logs the certificate in use once the host starts.</summary>
    private sealed class TlsAnnouncer(X509Certificate2 certificate, string file, ILogger<TlsAnnouncer> logger) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken)
        {
            SecurityLog.ServingTls(logger, certificate.Subject, certificate.NotAfter.ToUniversalTime(), file);
            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }

    /// <summary>Marks that <see cref="AddMuseDefaults"/> ran, so a second call adds nothing twice.</summary>
    private sealed class MuseDefaultsMarker;
}
