using Google.Rpc;
using Grpc.Core;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Muse.Hosting;
using Muse.Testing;

namespace Muse.Services.Tests;

public sealed class ErrorMappingInterceptorTests
{
    [Fact]
    public async Task UnaryServerHandler_ArgumentException_BecomesInvalidArgumentWithItsMessage()
    {
        var sut = CreateSut();

        var ex = await Assert.ThrowsAsync<RpcException>(() => Call(sut, new ArgumentException("steps must be positive.")));

        Assert.Equal(StatusCode.InvalidArgument, ex.StatusCode);
        Assert.Equal("steps must be positive.", ex.Status.Detail);
    }

    [Fact]
    public async Task UnaryServerHandler_RpcException_PassesThroughUnchanged()
    {
        var sut = CreateSut();
        var original = new RpcException(new Grpc.Core.Status(StatusCode.Unavailable, "draining"));

        var ex = await Assert.ThrowsAsync<RpcException>(() => Call(sut, original));

        Assert.Same(original, ex);
    }

    [Theory]
    [InlineData(typeof(ResourceExhaustedException), StatusCode.ResourceExhausted)]
    [InlineData(typeof(FailedPreconditionException), StatusCode.FailedPrecondition)]
    [InlineData(typeof(ModelNotFoundException), StatusCode.NotFound)]
    public async Task UnaryServerHandler_MuseException_BecomesItsStatus(Type exceptionType, StatusCode expected)
    {
        var sut = CreateSut();
        var thrown = (Exception)Activator.CreateInstance(exceptionType, "codebooks differ", null)!;

        var ex = await Assert.ThrowsAsync<RpcException>(() => Call(sut, thrown));

        Assert.Equal(expected, ex.StatusCode);
        Assert.Equal("codebooks differ", ex.Status.Detail);
    }

    [Fact]
    public async Task UnaryServerHandler_OperationCanceled_BecomesCancelled()
    {
        var sut = CreateSut();

        var ex = await Assert.ThrowsAsync<RpcException>(() => Call(sut, new OperationCanceledException()));

        Assert.Equal(StatusCode.Cancelled, ex.StatusCode);
    }

    [Fact]
    public async Task UnaryServerHandler_UnexpectedException_BecomesInternalWithoutItsMessage()
    {
        var sut = CreateSut();

        var ex = await Assert.ThrowsAsync<RpcException>(
            () => Call(sut, new InvalidOperationException("/secret/path/model.onnx: node 17 failed")));

        Assert.Equal(StatusCode.Internal, ex.StatusCode);
        Assert.DoesNotContain("secret", ex.Status.Detail, StringComparison.Ordinal);
        Assert.Matches("error id [0-9a-f]{12}", ex.Status.Detail);
    }

    [Fact]
    public async Task UnaryServerHandler_RegisteredInternalError_IsNamedButStillHidesItsMessage()
    {
        // What a stage process registers for ONNX Runtime (AddMuseModels); derived types take the base's name.
        var options = new ErrorMappingOptions();
        options.InternalErrorNames[typeof(IOException)] = "Inference failed";
        var sut = new ErrorMappingInterceptor(NullLogger<ErrorMappingInterceptor>.Instance, Options.Create(options));

        var named = await Assert.ThrowsAsync<RpcException>(() => Call(sut, new FileNotFoundException("/secret/model.onnx")));
        var other = await Assert.ThrowsAsync<RpcException>(() => Call(sut, new InvalidOperationException("boom")));

        Assert.Equal(StatusCode.Internal, named.StatusCode);
        Assert.StartsWith("Inference failed; error id ", named.Status.Detail, StringComparison.Ordinal);
        Assert.DoesNotContain("secret", named.Status.Detail, StringComparison.Ordinal);
        Assert.StartsWith("Internal error; error id ", other.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ServerStreamingServerHandler_ArgumentException_BecomesInvalidArgument()
    {
        var sut = CreateSut();

        var ex = await Assert.ThrowsAsync<RpcException>(() => sut.ServerStreamingServerHandler<string, string>(
            "request", null!, TestServerCallContext.Create(), (_, _, _) => throw new ArgumentException("bad")));

        Assert.Equal(StatusCode.InvalidArgument, ex.StatusCode);
    }

    [Fact]
    public void ThrowInvalidArgument_FromValidation_CarriesBadRequestWithProtoFieldPath()
    {
        var request = new Protos.V1.EncodeRequest();

        var ex = Assert.Throws<RpcException>(() => MuseValidation.NotEmpty(request.Texts));

        Assert.Equal(StatusCode.InvalidArgument, ex.StatusCode);
        var violation = Assert.Single(ex.GetRpcStatus()!.GetDetail<BadRequest>()!.FieldViolations);
        Assert.Equal("texts", violation.Field);
        Assert.Equal("must not be empty.", violation.Description);
    }

    [Theory]
    [InlineData("request.Texts", "texts")]
    [InlineData("request.Tokens.Shape", "tokens.shape")]
    [InlineData("request.GuidanceScale", "guidance_scale")]
    [InlineData("step.SamplingTemperature", "step.sampling_temperature")]
    [InlineData("texts[3]", "texts[3]")]
    [InlineData("request.Texts[i]", "texts[i]")]
    public void FieldPath_CSharpExpression_IsProtoFieldPath(string expression, string expected)
    {
        var path = MuseValidation.FieldPath(expression);

        Assert.Equal(expected, path);
    }

    [Theory]
    [InlineData(0.5, true)]
    [InlineData(double.NaN, false)]
    [InlineData(double.PositiveInfinity, false)]
    public void Finite_Value_ThrowsOnlyForNonFinite(double value, bool accepted)
    {
        var ex = Record.Exception(() => MuseValidation.Finite(value));

        Assert.Equal(accepted, ex is null);
    }

    [Theory]
    [InlineData(0, false)]
    [InlineData(1, true)]
    [InlineData(18, true)]
    [InlineData(19, false)]
    public void InRange_Value_AcceptsInclusiveBounds(int steps, bool accepted)
    {
        var ex = Record.Exception(() => MuseValidation.InRange(steps, 1, 18));

        Assert.Equal(accepted, ex is null);
        if (ex is RpcException rpc)
        {
            Assert.Equal("steps", rpc.GetRpcStatus()!.GetDetail<BadRequest>()!.FieldViolations[0].Field);
        }
    }

    private static ErrorMappingInterceptor CreateSut() =>
        new(NullLogger<ErrorMappingInterceptor>.Instance, Options.Create(new ErrorMappingOptions()));

    private static Task<string> Call(ErrorMappingInterceptor sut, Exception thrown) =>
        sut.UnaryServerHandler<string, string>("request", TestServerCallContext.Create(), (_, _) => throw thrown);
}
