using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Muse.Hosting;
using Muse.Orchestrator.Generation;
using Muse.Orchestrator.Pipelines;
using Muse.Protos.V1;
using Muse.Repository;

namespace Muse.Orchestrator.Tests;

/// <summary>
/// OpenTelemetry listens to every meter of its name in the process, not only its own app's, so another test's
/// requests on <c>b/2</c> running at the same time would be counted here: these tests run alone.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ProcessWideMetrics
{
    public const string Name = "Process-wide metrics";
}

[Collection(ProcessWideMetrics.Name)]
public sealed class MetricsEndpointTests : IDisposable
{
    private readonly TestRepository _repository = new();

    public void Dispose() => _repository.Dispose();

    [Fact]
    public async Task Metrics_ScrapedOverHttp11_ListsStageLatencyQueueAndPerVersionCounters()
    {
        await using var app = CreateSut();
        await app.StartAsync();
        var admission = app.Services.GetRequiredService<AdmissionController>();
        var metrics = app.Services.GetRequiredService<ModelMetrics>();
        var choice = new PipelineChoice(
            "p", _repository.Manifest("t/1"), _repository.Manifest("v/1"), _repository.Manifest("b/2"), _repository.Manifest("s/1"), new PipelineDefaults());
        using var running = admission.Enter();
        metrics.Started(choice);
        metrics.Completed(choice, new[] { "queue", Stages.TextEncoder, Stages.Base, Stages.SuperResolution, Stages.ImageTokenizer, "total" }
            .Select(stage => new StageTiming { Stage = stage, Milliseconds = 12 }));
        metrics.Started(choice);
        metrics.Failed(choice);

        var endpoint = app.Services.GetRequiredService<MuseMetricsEndpoint>().Url!;
        using var http = new HttpClient();
        using var response = await http.GetAsync(new Uri(endpoint, MuseMetricsEndpoint.Path));
        var text = await response.Content.ReadAsStringAsync();

        Assert.Equal(new Version(1, 1), response.Version);
        Assert.Contains("muse_orchestrator_stage_duration_milliseconds_bucket{", text, StringComparison.Ordinal);
        foreach (var stage in new[] { "text_encoder", "base", "sr", "image_tokenizer", "total" })
        {
            Assert.Contains($"stage=\"{stage}\"", text, StringComparison.Ordinal);
        }

        Assert.Matches("muse_orchestrator_model_requests_total\\{[^}]*model=\"b\"[^}]*version=\"2\"[^}]*\\} 2", text);
        Assert.Matches("muse_orchestrator_model_failures_total\\{[^}]*model=\"b\"[^}]*version=\"2\"[^}]*\\} 1", text);
        Assert.Matches("muse_orchestrator_requests_in_flight(\\{[^}]*\\})? 1", text);
        Assert.Matches("muse_orchestrator_queue_depth(\\{[^}]*\\})? 0", text);
    }

    [Fact]
    public async Task MetricsUrl_Set_GrpcAddressStaysHttp2AndIsAnnouncedApart()
    {
        await using var app = CreateSut();
        await app.StartAsync();

        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses;
        var metrics = app.Services.GetRequiredService<MuseMetricsEndpoint>().Url!;
        var grpc = new Uri(Assert.Single(addresses, a => new Uri(a) != metrics));
        using var http = new HttpClient();
        using var overHttp11 = await http.GetAsync(new Uri(grpc, MuseMetricsEndpoint.Path));   // h2c only: refused
        using var overHttp2 = await http.SendAsync(new HttpRequestMessage(HttpMethod.Get, new Uri(grpc, "/"))
        {
            Version = new Version(2, 0),
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
        });

        Assert.Equal(2, addresses.Count);
        Assert.NotEqual(metrics.Port, grpc.Port);
        Assert.False(overHttp11.IsSuccessStatusCode);
        Assert.Equal(new Version(2, 0), overHttp2.Version);
    }

    private static WebApplication CreateSut()
    {
        var builder = WebApplication.CreateBuilder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["urls"] = "http://127.0.0.1:0",
            ["Muse:Hosting:MetricsUrl"] = "http://127.0.0.1:0",
            ["Muse:Hosting:LogFormat"] = "Simple",
        });
        builder.AddMuseDefaults();
        builder.Services.AddOptions<QueueOptions>();
        builder.Services.AddSingleton<AdmissionController>();
        builder.Services.AddSingleton<ModelMetrics>();
        var app = builder.Build();
        app.MapMuseDefaults();
        return app;
    }
}
