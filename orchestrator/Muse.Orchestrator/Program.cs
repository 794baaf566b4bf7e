using Muse.Hosting;
using Muse.Orchestrator;
using Muse.Orchestrator.Web;

var builder = WebApplication.CreateBuilder(args);
builder.AddMuseDefaults();          // Kestrel, gRPC + error mapping, health, reflection, telemetry
builder.AddMuseOrchestrator();      // pipelines (checked at start-up) and the request runner
builder.AddMuseStageClients();      // stage replicas with Polly resilience
builder.AddMuseWeb();               // HTTP/JSON transcoding; with Muse:Web:Port the web page, API and OpenAPI listener

var app = builder.Build();
app.MapMuseDefaults();
app.MapMuseWeb();
app.MapGrpcService<MuseService>();
app.Run();
