using Google.Protobuf;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Muse.Protos.V1;
using Polly;
using Polly.Telemetry;

namespace Muse.Orchestrator.Tests;

/// <summary>Polly's telemetry must not print stage replies: they are text embeddings and whole images.</summary>
public sealed class ResilienceTelemetryTests
{
    [Fact]
    public void ResultFormatter_StageReply_NamesTheMessageNotItsContents()
    {
        var telemetry = Telemetry();
        var reply = new DetokenizeReply { Width = 2, Height = 1 };
        reply.Images.Add(ByteString.CopyFrom(0x5A, 0x5A, 0x5A, 0x5A, 0x5A, 0x5A));
        var context = ResilienceContextPool.Shared.Get();

        var formatted = telemetry.ResultFormatter(context, reply);

        Assert.Equal<object?>($"DetokenizeReply ({reply.CalculateSize()} bytes)", formatted);
        Assert.DoesNotContain("WlpaWlpa", formatted?.ToString(), StringComparison.Ordinal);   // the bytes, base64
        ResilienceContextPool.Shared.Return(context);
    }

    [Fact]
    public void ResultFormatter_OtherResult_IsPassedThrough()
    {
        var telemetry = Telemetry();
        var context = ResilienceContextPool.Shared.Get();

        Assert.Equal<object?>(42, telemetry.ResultFormatter(context, 42));
        ResilienceContextPool.Shared.Return(context);
    }

    // The options the orchestrator's stage clients configure (the pipeline's telemetry reads them).
    private static TelemetryOptions Telemetry()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.AddMuseStageClients();
        using var services = builder.Services.BuildServiceProvider();
        return services.GetRequiredService<IOptions<TelemetryOptions>>().Value;
    }
}
