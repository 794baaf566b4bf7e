using Google.Protobuf.Reflection;
using Microsoft.AspNetCore.StaticFiles;
using Microsoft.Extensions.FileProviders;
using Microsoft.OpenApi.Models;
using Muse.Hosting;
using Muse.Hosting.Security;

namespace Muse.Orchestrator.Web;

/// <summary>
/// The web side of the orchestrator: the HTTP/JSON API transcoded from the <c>google.api.http</c> options of
/// muse.proto, its OpenAPI document, and the web page, on an HTTP/1.1 listener of its own (<see cref="MuseWebListener"/>).
/// </summary>
/// <remarks>
/// Transcoded calls run through the same gRPC service method and interceptors (error mapping, and whatever else is
/// registered, e.g. API keys), with the request headers as call metadata, the same message-size limits, validation and
/// admission queue; cancelling the HTTP request (a closed connection, an aborted fetch) cancels the call.
/// </remarks>
public static class MuseWebExtensions
{
    /// <summary>Resource-name prefix of the page's files embedded in this assembly (see the project file).</summary>
    private const string PageResources = "MusePage";

    /// <summary>
    /// JSON transcoding of <c>muse.v1.Muse</c>; with <see cref="MuseWebOptions.Port"/> set also the web listener, the
    /// page and the OpenAPI document (<see cref="MapMuseWeb"/>). Call after <c>AddMuseDefaults</c>.
    /// </summary>
    public static IHostApplicationBuilder AddMuseWeb(this IHostApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var section = builder.Configuration.GetSection(MuseWebOptions.Section);
        builder.Services.AddOptions<MuseWebOptions>().Bind(section).ValidateDataAnnotations().ValidateOnStart();
        // The error details the service attaches (google.rpc.BadRequest and friends, see MuseValidation) are written
        // into the JSON error body as Any, which needs their descriptors.
        builder.AddMuseGrpcFeature(grpc => grpc.AddJsonTranscoding(transcoding =>
            transcoding.TypeRegistry = TypeRegistry.FromFiles(Google.Rpc.ErrorDetailsReflection.Descriptor)));
        var port = section.Get<MuseWebOptions>()?.Port;
        if (port is null)
        {
            return builder;
        }

        // With TLS on the gRPC port the page and the JSON API are TLS too: API keys never cross in plaintext.
        var tls = builder.Configuration.GetSection($"{MuseSecurityOptions.Section}:Tls").Get<TlsOptions>();
        var scheme = tls is { Enabled: true } ? "https" : "http";
        builder.AddMuseHttp1Listener(new MuseWebListener(), $"{scheme}://{WebHost(builder.Configuration)}:{port}");
        // AddGrpcSwagger calls AddGrpc() itself, which would bring grpc-dotnet's binder back beside the validating one.
        builder.AddMuseGrpcFeature(grpc => grpc.Services.AddGrpcSwagger());
        builder.Services.AddSwaggerGen(swagger =>
        {
            swagger.SwaggerDoc("v1", new OpenApiInfo
            {
                Title = "Muse",
                Version = "v1",
                Description = "Text-to-image generation and editing (muse.v1.Muse over HTTP/JSON). Generate and Edit answer "
                    + "with a stream of GenerateEvent JSON objects, one per line, written as they happen: accepted, queued, "
                    + "progress (with base64 preview PNGs), result.",
            });
            // The proto comments, compiled into Muse.Protos' XML documentation, describe every field.
            var protoDocs = Path.Combine(AppContext.BaseDirectory, "Muse.Protos.xml");
            if (File.Exists(protoDocs))
            {
                swagger.IncludeXmlComments(protoDocs);       // messages and fields
                swagger.IncludeGrpcXmlComments(protoDocs, includeControllerXmlComments: true);   // methods
            }
        });
        return builder;
    }

    /// <summary>
    /// With a web listener: the OpenAPI document at <see cref="MuseWebListener.OpenApiPath"/> and the page's static
    /// files (embedded, so the page needs no build step and no files beside the binary), <c>index.html</c> at <c>/</c>.
    /// </summary>
    public static WebApplication MapMuseWeb(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        if (app.Services.GetService<MuseWebListener>() is null)
        {
            return app;
        }

        app.UseSwagger(swagger => swagger.RouteTemplate = "openapi/{documentName}.json");
        var page = new EmbeddedFileProvider(typeof(MuseWebListener).Assembly, PageResources);
        app.UseDefaultFiles(new DefaultFilesOptions { FileProvider = page });
        var types = new FileExtensionContentTypeProvider();
        types.Mappings[".js"] = "text/javascript; charset=utf-8";
        app.UseStaticFiles(new StaticFileOptions
        {
            FileProvider = page,
            ContentTypeProvider = types,
            OnPrepareResponse = context =>
            {
                var headers = context.Context.Response.Headers;
                // Embedded files change only with the binary; revalidate rather than serve a stale page after an upgrade.
                headers.CacheControl = "no-cache";
                headers.ContentSecurityPolicy = "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
                    + "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";
                headers.XContentTypeOptions = "nosniff";
            },
        });
        return app;
    }

    // The web listener binds where gRPC does (loopback by default, every interface in the container image).
    private static string WebHost(IConfiguration configuration)
    {
        var grpc = (configuration["urls"] ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault()
            ?? configuration["Kestrel:Endpoints:MuseGrpc0:Url"];
        if (grpc is null)
        {
            return "127.0.0.1";
        }

        // A host name ("localhost") becomes loopback: Kestrel cannot bind port 0 on a name.
        var wildcard = grpc.Replace("://*:", "://0.0.0.0:", StringComparison.Ordinal).Replace("://+:", "://0.0.0.0:", StringComparison.Ordinal);
        return Uri.TryCreate(wildcard, UriKind.Absolute, out var uri) && uri.HostNameType is UriHostNameType.IPv4 or UriHostNameType.IPv6
            ? uri.Host
            : "127.0.0.1";
    }
}
