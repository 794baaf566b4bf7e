using Google.Rpc;
using Grpc.Core;

namespace Muse.Services.Tests;

/// <summary>Assertions on gRPC failures.</summary>
internal static class Errors
{
    /// <summary>Awaits <paramref name="call"/>, which must fail with <paramref name="expected"/>; returns the exception.</summary>
    public static async Task<RpcException> AssertStatusAsync(StatusCode expected, Func<Task> call)
    {
        var ex = await Assert.ThrowsAsync<RpcException>(call);
        Assert.True(ex.StatusCode == expected, $"Expected {expected}, got {ex.StatusCode}: {ex.Status.Detail}");
        return ex;
    }

    /// <summary>The field of the first BadRequest violation carried in the rich status.</summary>
    public static string? ViolatedField(RpcException ex) =>
        ex.GetRpcStatus()?.GetDetail<BadRequest>()?.FieldViolations.FirstOrDefault()?.Field;
}
