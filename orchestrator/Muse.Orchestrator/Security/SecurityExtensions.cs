using Grpc.AspNetCore.Server;
using Microsoft.Extensions.Options;
using Muse.Hosting.Security;

namespace Muse.Orchestrator.Security;

/// <summary>Registration of the orchestrator's access control: API keys, per-key limits, the anonymous-access rule.</summary>
public static class SecurityExtensions
{
    /// <summary>
    /// <see cref="ApiKeyStore"/> when <see cref="MuseSecurityOptions.ApiKeysFile"/> is set, <see cref="MuseAccess"/>,
    /// <see cref="ApiKeyInterceptor"/> on every service, the <see cref="ApiKeyRateLimitPolicy"/> and the start-up
    /// <see cref="AnonymousAccessCheck"/>. Map services with <see cref="RequireMuseLimits{TBuilder}"/> and call
    /// <c>app.UseRateLimiter()</c>.
    /// </summary>
    public static IHostApplicationBuilder AddMuseAccessControl(this IHostApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var keysFile = builder.Configuration[$"{MuseSecurityOptions.Section}:{nameof(MuseSecurityOptions.ApiKeysFile)}"];
        if (!string.IsNullOrWhiteSpace(keysFile))
        {
            builder.Services.AddSingleton(services => new ApiKeyStore(keysFile, services.GetRequiredService<ILogger<ApiKeyStore>>()));
        }

        builder.Services.AddSingleton(services => new MuseAccess(
            services.GetRequiredService<IOptions<MuseSecurityOptions>>(), services.GetService<ApiKeyStore>()));
        builder.Services.AddOptions<GrpcServiceOptions>().Configure(grpc => grpc.Interceptors.Add<ApiKeyInterceptor>());
        builder.Services.AddRateLimiter(limits => limits.AddPolicy<string, ApiKeyRateLimitPolicy>(ApiKeyRateLimitPolicy.Name));
        builder.Services.AddHostedService<AnonymousAccessCheck>();
        return builder;
    }

    /// <summary>Applies the per-key limits to the endpoints of a mapped service (gRPC and any transcoded routes).</summary>
    public static TBuilder RequireMuseLimits<TBuilder>(this TBuilder endpoints)
        where TBuilder : IEndpointConventionBuilder =>
        endpoints.RequireRateLimiting(ApiKeyRateLimitPolicy.Name);
}
