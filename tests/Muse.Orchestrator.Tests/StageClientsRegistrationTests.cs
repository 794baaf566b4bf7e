using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Muse.Orchestrator.Replicas;
using Polly;
using Polly.Registry;
using Polly.Retry;
using Polly.Testing;
using Polly.Timeout;

namespace Muse.Orchestrator.Tests;

public sealed class StageClientsRegistrationTests
{
    [Fact]
    public void UnaryPipeline_Composition_RetriesOutsideAttemptTimeout()
    {
        using var services = CreateSut();

        var descriptor = services.GetRequiredService<ResiliencePipelineProvider<string>>()
            .GetPipeline(StagePipelines.Unary).GetPipelineDescriptor();

        Assert.Collection(
            descriptor.Strategies,
            retry => Assert.Equal(2, Assert.IsType<RetryStrategyOptions>(retry.Options).MaxRetryAttempts),
            timeout => Assert.Equal(TimeSpan.FromSeconds(30), Assert.IsType<TimeoutStrategyOptions>(timeout.Options).Timeout));
    }

    [Theory]
    [InlineData(StatusCode.Unavailable, true)]
    [InlineData(StatusCode.Aborted, true)]
    [InlineData(StatusCode.InvalidArgument, false)]
    [InlineData(StatusCode.Cancelled, false)]
    [InlineData(StatusCode.DeadlineExceeded, false)]
    [InlineData(StatusCode.FailedPrecondition, false)]
    public void IsTransient_StatusCode_OnlyRetriesLostReplicas(StatusCode code, bool expected)
    {
        var ex = new RpcException(new Status(code, "x"));

        Assert.Equal(expected, StageErrors.IsTransient(ex));
    }

    private static ServiceProvider CreateSut()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.AddMuseStageClients();
        return (ServiceProvider)builder.Services.BuildServiceProvider();
    }
}
