using Muse.Hosting;

namespace Muse.Orchestrator.Web;

/// <summary>
/// The orchestrator's HTTP/1.1 listener for browsers and curl (<see cref="MuseWebOptions.Port"/>): the page at
/// <c>/</c>, the HTTP/JSON API under <c>/v1/</c> and <see cref="OpenApiPath"/>. Announced as <c>MUSE_WEB &lt;url&gt;</c>.
/// </summary>
public sealed class MuseWebListener() : MuseHttp1Listener(EndpointName, Prefix)
{
    /// <summary>Prefix of the stdout line naming the web address.</summary>
    public new const string Prefix = "MUSE_WEB";

    /// <summary>Name of the Kestrel endpoint, <c>Kestrel:Endpoints:MuseWeb</c>.</summary>
    public new const string EndpointName = "MuseWeb";

    /// <summary>Path of the OpenAPI document of the HTTP/JSON API.</summary>
    public const string OpenApiPath = "/openapi/v1.json";
}
