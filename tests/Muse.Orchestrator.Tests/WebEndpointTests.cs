using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Muse.Hosting;
using Muse.Orchestrator.Web;

namespace Muse.Orchestrator.Tests;

/// <summary>The web listener on real Kestrel: page, OpenAPI document and the transcoded routes, over HTTP/1.1.</summary>
public sealed class WebEndpointTests
{
    [Fact]
    public async Task WebPort_Set_ServesPageAndOpenApiOverHttp11BesideMetrics()
    {
        await using var app = CreateSut();
        await app.StartAsync();
        var web = app.Services.GetRequiredService<MuseWebListener>().Url!;
        var metrics = app.Services.GetRequiredService<MuseMetricsEndpoint>().Url!;
        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses;
        using var http = new HttpClient { BaseAddress = web };

        using var page = await http.GetAsync(new Uri("/", UriKind.Relative));
        var html = await page.Content.ReadAsStringAsync();
        using var script = await http.GetAsync(new Uri("/app.js", UriKind.Relative));
        using var openApi = JsonDocument.Parse(await http.GetStringAsync(new Uri(MuseWebListener.OpenApiPath, UriKind.Relative)));

        Assert.Equal(3, addresses.Count);   // gRPC, metrics, web
        Assert.NotEqual(metrics.Port, web.Port);
        Assert.Equal(new Version(1, 1), page.Version);
        Assert.Contains("<script type=\"module\" src=\"app.js\">", html, StringComparison.Ordinal);
        Assert.Contains("default-src 'self'", page.Headers.GetValues("Content-Security-Policy").Single(), StringComparison.Ordinal);
        Assert.Equal("text/javascript", script.Content.Headers.ContentType?.MediaType);
        var paths = openApi.RootElement.GetProperty("paths").EnumerateObject().Select(p => p.Name).Order().ToList();
        Assert.Equal(["/v1/images:edit", "/v1/images:generate", "/v1/models"], paths);
        var schemas = openApi.RootElement.GetProperty("components").GetProperty("schemas");
        Assert.True(schemas.TryGetProperty("GenerateRequest", out var request));
        // The proto comments describe the fields.
        Assert.Contains("What to draw", request.GetProperty("properties").GetProperty("prompt").GetProperty("description").GetString(), StringComparison.Ordinal);
    }

    private static WebApplication CreateSut()
    {
        var builder = WebApplication.CreateBuilder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["urls"] = "http://127.0.0.1:0",
            ["Muse:Hosting:MetricsUrl"] = "http://127.0.0.1:0",
            ["Muse:Hosting:LogFormat"] = "Simple",
            ["Muse:Web:Port"] = "0",
        });
        builder.AddMuseDefaults();
        builder.AddMuseWeb();
        var app = builder.Build();
        app.MapMuseDefaults();
        app.MapMuseWeb();
        app.MapGrpcService<MuseService>();
        return app;
    }
}
