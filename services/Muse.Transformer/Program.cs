using Muse.Hosting;
using Muse.Inference;
using Muse.Repository;
using Muse.Transformer;

var builder = WebApplication.CreateBuilder(args);
builder.AddMuseStage(Stages.Base, Stages.SuperResolution);   // base or sr: whichever the configured manifest says
builder.AddTokenTransformer();

var app = builder.Build();
app.MapMuseStage<TokenTransformerService>();
app.Run();
