using Muse.Hosting;
using Muse.Orchestrator;
using Muse.Orchestrator.Security;

var builder = WebApplication.CreateBuilder(args);
builder.AddMuseDefaults();          // Kestrel (TLS when configured), gRPC + error mapping, health, reflection, telemetry
builder.AddMuseOrchestrator();      // pipelines (checked at start-up) and the request runner
builder.AddMuseStageClients();      // stage replicas with Polly resilience, presenting the cluster credential
builder.AddMuseAccessControl();     // API keys, per-key limits, anonymous only on loopback

var app = builder.Build();
app.UseRateLimiter();
app.MapMuseDefaults();
app.MapGrpcService<MuseService>().RequireMuseLimits();
app.Run();
