using Muse.Hosting;
using Muse.ImageTokenizer;
using Muse.Inference;
using Muse.Repository;

var builder = WebApplication.CreateBuilder(args);
builder.AddMuseStage(Stages.ImageTokenizer);   // Kestrel h2c, gRPC + error mapping, health, reflection, OTel, models
builder.AddImageTokenizer();                   // upload guard and limits

var app = builder.Build();
app.MapMuseStage<ImageTokenizerService>();
app.Run();
