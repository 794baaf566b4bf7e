using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Reflection.V1Alpha;

namespace Muse.Services.Tests;

/// <summary>What Muse.Hosting adds to every stage, checked on the text-encoder host.</summary>
[Collection(TextEncoderStage.Name)]
public sealed class HostingTests(TextEncoderHost fixture)
{
    [Theory]
    [InlineData("")]
    [InlineData("live")]
    [InlineData("ready")]
    public async Task HealthCheck_LoadedStage_IsServing(string service)
    {
        var health = new Health.HealthClient(fixture.Host.Channel);

        var reply = await health.CheckAsync(new HealthCheckRequest { Service = service });

        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, reply.Status);
    }

    [Fact]
    public async Task HealthCheck_UnknownService_ReturnsNotFound()
    {
        var health = new Health.HealthClient(fixture.Host.Channel);

        await Errors.AssertStatusAsync(StatusCode.NotFound,
            () => health.CheckAsync(new HealthCheckRequest { Service = "no-such-service" }).ResponseAsync);
    }

    [Fact]
    public async Task Reflection_ListServices_IncludesStageHealthAndStageInfo()
    {
        var reflection = new ServerReflection.ServerReflectionClient(fixture.Host.Channel);
        using var call = reflection.ServerReflectionInfo();

        await call.RequestStream.WriteAsync(new ServerReflectionRequest { ListServices = "" });
        await call.RequestStream.CompleteAsync();
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
        var names = call.ResponseStream.Current.ListServicesResponse.Service.Select(s => s.Name).ToList();

        Assert.Contains("muse.v1.TextEncoder", names);
        Assert.Contains("muse.v1.StageInfo", names);
        Assert.Contains("grpc.health.v1.Health", names);
    }

    [Fact]
    public void Address_IsLoopbackWithEphemeralPort()
    {
        var address = fixture.Host.Address;

        Assert.Equal("127.0.0.1", address.Host);
        Assert.NotEqual(0, address.Port);
        Assert.Equal(Uri.UriSchemeHttp, address.Scheme);
    }
}
