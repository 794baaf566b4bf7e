using System.Globalization;
using System.Threading.RateLimiting;
using Grpc.Core;
using Microsoft.AspNetCore.RateLimiting;
using Muse.Hosting.Security;

namespace Muse.Orchestrator.Security;

/// <summary>
/// Per-key limits (ASP.NET Core rate limiting, one partition per key and its limits): requests per minute (sliding
/// window of six 10 s segments) and requests in flight (no queue). A request over either fails at once with
/// RESOURCE_EXHAUSTED and a <c>retry-after</c> trailer in seconds (HTTP 429 with <c>Retry-After</c> for a non-gRPC,
/// e.g. transcoded, request). Calls without a valid key are not limited here: <see cref="ApiKeyInterceptor"/> refuses them.
/// </summary>
public sealed class ApiKeyRateLimitPolicy(MuseAccess access, ILogger<ApiKeyRateLimitPolicy> logger) : IRateLimiterPolicy<string>
{
    /// <summary>The policy name the Muse service endpoints require.</summary>
    public const string Name = "muse-api-keys";

    /// <summary>Trailer (and header) that tells a refused caller when to try again, in whole seconds.</summary>
    public const string RetryAfter = "retry-after";

    private const int Segments = 6;

    private static readonly TimeSpan Window = TimeSpan.FromMinutes(1);

    /// <inheritdoc/>
    public Func<OnRejectedContext, CancellationToken, ValueTask>? OnRejected => RejectAsync;

    /// <inheritdoc/>
    public RateLimitPartition<string> GetPartition(HttpContext httpContext)
    {
        var key = access.Check(httpContext).Key;
        if (key is null || (key.RequestsPerMinute is null && key.MaxConcurrent is null))
        {
            return RateLimitPartition.GetNoLimiter("");
        }

        // Limits are part of the partition, so a changed limit in the file takes effect on the next call.
        return RateLimitPartition.Get($"{key.Id}/{key.RequestsPerMinute}/{key.MaxConcurrent}", _ => Create(key));
    }

    private static RateLimiter Create(ApiKeyEntry key)
    {
        var limiters = new List<RateLimiter>();
        if (key.RequestsPerMinute is { } perMinute)
        {
            limiters.Add(new SlidingWindowRateLimiter(new SlidingWindowRateLimiterOptions
            {
                PermitLimit = perMinute,
                Window = Window,
                SegmentsPerWindow = Segments,
                QueueLimit = 0,
                AutoReplenishment = true,
            }));
        }

        if (key.MaxConcurrent is { } concurrent)
        {
            limiters.Add(new ConcurrencyLimiter(new ConcurrencyLimiterOptions { PermitLimit = concurrent, QueueLimit = 0 }));
        }

        return limiters.Count == 1 ? limiters[0] : RateLimiter.CreateChained([.. limiters]);
    }

    private async ValueTask RejectAsync(OnRejectedContext context, CancellationToken cancellationToken)
    {
        var http = context.HttpContext;
        var key = access.Check(http).Key;
        // A sliding window says when its next segment frees permits; a full concurrency limit frees a slot whenever a
        // call ends, so a second is as good a guess as any.
        var hasRetryAfter = context.Lease.TryGetMetadata(MetadataName.RetryAfter, out var after);
        var perMinute = hasRetryAfter || key?.MaxConcurrent is null;
        var seconds = Math.Max(1, (int)Math.Ceiling(hasRetryAfter ? after.TotalSeconds : perMinute ? Window.TotalSeconds / Segments : 1));
        var limit = perMinute
            ? $"{key?.RequestsPerMinute} requests per minute"
            : $"{key?.MaxConcurrent} concurrent requests";
        var message = $"Rate limit of API key '{key?.Name}' reached: {limit}. Retry after {seconds} s.";
        OrchestratorSecurityLog.CallLimited(logger, http.Request.Path, key?.Name ?? "?", limit);
        var retryAfter = seconds.ToString(CultureInfo.InvariantCulture);
        if (http.Request.ContentType?.StartsWith("application/grpc", StringComparison.OrdinalIgnoreCase) == true)
        {
            await GrpcTrailersOnly.WriteAsync(http, StatusCode.ResourceExhausted, message, (RetryAfter, retryAfter));
            return;
        }

        http.Response.StatusCode = StatusCodes.Status429TooManyRequests;
        http.Response.Headers.RetryAfter = retryAfter;
        await http.Response.WriteAsync(message, cancellationToken);
    }
}

/// <summary>A gRPC status sent without running the call: one HEADERS frame carrying the status ("trailers-only").</summary>
public static class GrpcTrailersOnly
{
    /// <summary>Ends <paramref name="http"/> with <paramref name="code"/> and a bounded <paramref name="message"/>.</summary>
    public static Task WriteAsync(HttpContext http, StatusCode code, string message, params (string Name, string Value)[] extra)
    {
        ArgumentNullException.ThrowIfNull(http);
        var response = http.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "application/grpc";
        response.Headers["grpc-status"] = ((int)code).ToString(CultureInfo.InvariantCulture);
        response.Headers["grpc-message"] = Uri.EscapeDataString(BoundedText.Truncate(message));
        foreach (var (name, value) in extra)
        {
            response.Headers[name] = value;
        }

        return response.CompleteAsync();
    }
}
