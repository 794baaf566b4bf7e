using Muse.Hosting;
using Muse.Inference;
using Muse.Repository;
using Muse.TextEncoder;

var builder = WebApplication.CreateBuilder(args);
builder.AddMuseStage(Stages.TextEncoder);   // Kestrel h2c, gRPC + error mapping, health, reflection, OTel, models
builder.AddTextEncoder();                   // SentencePiece tokenizer per loaded encoder

var app = builder.Build();
app.MapMuseStage<TextEncoderService>();
app.Run();
