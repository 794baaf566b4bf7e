using System.Net;
using Microsoft.Extensions.Options;
using Muse.Hosting.Security;

namespace Muse.Orchestrator.Security;

/// <summary>
/// Who a call is: the API key it presents when keys are configured, else anonymous, which only loopback
/// connections get unless <see cref="MuseSecurityOptions.AllowAnonymous"/> is set. Checked once per request and
/// kept on the <see cref="HttpContext"/>, so the rate limiter (which runs first) and <see cref="ApiKeyInterceptor"/>
/// agree.
/// </summary>
public sealed class MuseAccess(IOptions<MuseSecurityOptions> options, ApiKeyStore? keys = null)
{
    /// <summary>Name of anonymous callers in logs.</summary>
    public const string Anonymous = "anonymous";

    private static readonly object ItemKey = new();

    /// <summary>True when API keys are enforced.</summary>
    public bool RequiresKeys => keys is not null;

    /// <summary>The caller of <paramref name="http"/>: a key, anonymous (<c>Key</c> null, no failure), or the refusal.</summary>
    public ApiKeyCheck Check(HttpContext http)
    {
        ArgumentNullException.ThrowIfNull(http);
        if (http.Items.TryGetValue(ItemKey, out var cached) && cached is ApiKeyCheck known)
        {
            return known;
        }

        var check = Evaluate(http);
        http.Items[ItemKey] = check;
        return check;
    }

    private ApiKeyCheck Evaluate(HttpContext http)
    {
        if (keys is not null)
        {
            return keys.Authenticate(BearerToken.Parse(http.Request.Headers.Authorization.ToString() is { Length: > 0 } value ? value : null));
        }

        // No keys: anonymous, on loopback only (start-up refuses other addresses; this also covers any listener added later).
        return options.Value.AllowAnonymous || http.Connection.LocalIpAddress is not { } local || IPAddress.IsLoopback(local)
            ? new(null, null)
            : new(null, "Anonymous access is allowed on loopback only; configure API keys (Muse:Security:ApiKeysFile).");
    }
}
