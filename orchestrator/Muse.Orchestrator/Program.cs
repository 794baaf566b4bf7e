using Muse.Hosting;
using Muse.Orchestrator;

var builder = WebApplication.CreateBuilder(args);
builder.AddMuseDefaults();          // Kestrel, gRPC + error mapping, health, reflection, telemetry
builder.AddMuseOrchestrator();      // pipelines (checked at start-up) and the request runner
builder.AddMuseStageClients();      // stage replicas with Polly resilience

var app = builder.Build();
app.MapMuseDefaults();
app.MapGrpcService<MuseService>();
app.Run();
