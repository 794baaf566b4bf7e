using Grpc.Core;
using Muse.Protos.V1;

namespace Muse.EndToEnd.Tests;

[Collection(SharedCluster.Name)]
public sealed class BadInputTests(ClusterFixture fixture)
{
    public static TheoryData<string, Action<GenerateRequest>> InvalidRequests => new()
    {
        { "empty prompt", r => r.Prompt = "" },
        { "blank prompt", r => r.Prompt = "   " },
        { "prompt over 1000 characters", r => r.Prompt = new string('a', 1001) },
        { "prompt over the token limit", r => r.Prompt = string.Join(' ', Enumerable.Repeat("red circle", 40)) },
        { "negative prompt over 1000 characters", r => r.NegativePrompt = new string('b', 1001) },
        { "base steps 0", r => r.Decoding.BaseSteps = 0 },
        { "base steps 65", r => r.Decoding.BaseSteps = 65 },
        { "sr steps 0", r => r.Decoding.SrSteps = 0 },
        { "sr steps 65", r => r.Decoding.SrSteps = 65 },
        { "guidance NaN", r => r.Decoding.GuidanceScale = float.NaN },
        { "guidance negative", r => r.Decoding.GuidanceScale = -1 },
        { "guidance infinite", r => r.Decoding.GuidanceScale = float.PositiveInfinity },
        { "temperature NaN", r => r.Decoding.SamplingTemperature = float.NaN },
        { "sr temperature above 10", r => r.Decoding.SrSamplingTemperature = 11f },
        { "choice temperature negative", r => r.Decoding.ChoiceTemperature = -0.5f },
        { "unknown pipeline", r => r.Pipeline = "no-such-pipeline" },
        { "negative preview interval", r => r.PreviewEvery = -1 },
        { "17 images", r => r.NumImages = 17 },
        { "negative image count", r => r.NumImages = -1 },
        { "quality 101", r => r.Quality = 101 },
        { "unknown output format", r => r.OutputFormat = (ImageFormat)7 },
        { "pin of an unknown stage", r => r.Models.Add(new StageModel { Stage = "vae", Name = "x", Version = "1" }) },
    };

    [Theory]
    [MemberData(nameof(InvalidRequests))]
    public async Task Generate_InvalidRequest_InvalidArgumentAndServerKeepsServing(string because, Action<GenerateRequest> spoil)
    {
        var request = GenerateTests.Request(seed: 1, baseSteps: 2, srSteps: 2);
        spoil(request);

        var error = await Assert.ThrowsAsync<RpcException>(() => fixture.GenerateAsync(request));

        Assert.True(error.StatusCode == StatusCode.InvalidArgument, $"{because}: got {error.StatusCode} {error.Status.Detail}");
        Assert.False(string.IsNullOrWhiteSpace(error.Status.Detail), because);
        var ok = await fixture.GenerateAsync(GenerateTests.Request(seed: 1, baseSteps: 2, srSteps: 2));
        Assert.NotNull(ok[^1].Result);
    }

    [Fact]
    public async Task Generate_UnknownPipeline_MessageListsTheKnownOnes()
    {
        var request = GenerateTests.Request(seed: 1, baseSteps: 2, srSteps: 2);
        request.Pipeline = "nope";

        var error = await Assert.ThrowsAsync<RpcException>(() => fixture.GenerateAsync(request));

        var models = await fixture.Client.ListModelsAsync(new ListModelsRequest());
        Assert.Contains(models.DefaultPipeline, error.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Generate_PinnedVersionThePipelineDoesNotOffer_FailedPreconditionNamingIt()
    {
        var request = GenerateTests.Request(seed: 1, baseSteps: 2, srSteps: 2);
        request.Models.Add(new StageModel { Stage = "base", Name = "muse-random-base", Version = "999" });

        var error = await Assert.ThrowsAsync<RpcException>(() => fixture.GenerateAsync(request));

        Assert.Equal(StatusCode.FailedPrecondition, error.StatusCode);
        Assert.Contains("muse-random-base/999", error.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Generate_DeadlineTooShort_DeadlineExceededAndServerKeepsServing()
    {
        var request = GenerateTests.Request(seed: 1, baseSteps: 64, srSteps: 64);

        // Real time: a gRPC deadline is a wall-clock instant that travels to the real orchestrator process.
#pragma warning disable RS0030
        var deadline = DateTime.UtcNow.AddMilliseconds(150);
#pragma warning restore RS0030

        var error = await Assert.ThrowsAsync<RpcException>(() => fixture.GenerateAsync(request, deadline: deadline));

        Assert.Equal(StatusCode.DeadlineExceeded, error.StatusCode);
        var ok = await fixture.GenerateAsync(GenerateTests.Request(seed: 1, baseSteps: 2, srSteps: 2));
        Assert.NotNull(ok[^1].Result);
    }

    [Fact]
    public async Task Generate_ClientCancelsMidDecode_CancelledAndNextRequestIsServed()
    {
        using var cts = new CancellationTokenSource();
        var request = GenerateTests.Request(seed: 1, baseSteps: 64, srSteps: 64);
        using var call = fixture.Client.Generate(request, cancellationToken: cts.Token);

        var error = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            await foreach (var e in call.ResponseStream.ReadAllAsync())
            {
                if (e.Progress?.Step == 2)
                {
                    await cts.CancelAsync();
                }
            }
        });

        Assert.Equal(StatusCode.Cancelled, error.StatusCode);
        var ok = await fixture.GenerateAsync(GenerateTests.Request(seed: 1, baseSteps: 2, srSteps: 2));
        Assert.NotNull(ok[^1].Result);
    }
}
