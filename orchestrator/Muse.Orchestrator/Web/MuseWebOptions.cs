using System.ComponentModel.DataAnnotations;

namespace Muse.Orchestrator.Web;

/// <summary>
/// Configuration section <c>Muse:Web</c>: the orchestrator's HTTP/1.1 web listener, which serves the web page, the
/// HTTP/JSON API transcoded from <c>muse.v1.Muse</c> and its OpenAPI document.
/// </summary>
public sealed class MuseWebOptions
{
    /// <summary>Configuration section name.</summary>
    public const string Section = "Muse:Web";

    /// <summary>
    /// Port of the web listener; 0 = an ephemeral port (printed as <c>MUSE_WEB &lt;url&gt;</c>). Unset (the default) =
    /// no web listener. It binds the host of the first gRPC address (<c>urls</c>), else 127.0.0.1.
    /// </summary>
    [Range(0, 65535)]
    public int? Port { get; set; }
}
