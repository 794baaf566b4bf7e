using Muse.Hosting;
using Muse.Orchestrator;
using Muse.Orchestrator.Security;
using Muse.Orchestrator.Web;

var builder = WebApplication.CreateBuilder(args);
builder.AddMuseDefaults();          // Kestrel (TLS when configured), gRPC + error mapping, health, reflection, telemetry
builder.AddMuseOrchestrator();      // pipelines (checked at start-up) and the request runner
builder.AddMuseStageClients();      // stage replicas with Polly resilience, presenting the cluster credential
builder.AddMuseAccessControl();     // API keys, per-key limits, anonymous only on loopback
builder.AddMuseWeb();               // HTTP/JSON transcoding; with Muse:Web:Port the web page, API and OpenAPI listener

var app = builder.Build();
app.UseRateLimiter();
app.MapMuseDefaults();
app.MapMuseWeb();
app.MapGrpcService<MuseService>().RequireMuseLimits();
app.Run();
