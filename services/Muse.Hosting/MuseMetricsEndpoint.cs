using System.Net;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Muse.Hosting;

/// <summary>
/// The optional HTTP/1.1 listener on which a process serves <see cref="Path"/> in the Prometheus text format
/// (<see cref="MuseHostingOptions.MetricsUrl"/>). Registered only when that option is set; once Kestrel listens the
/// process prints <c>MUSE_METRICS &lt;url&gt;</c> on stdout, as it prints <c>MUSE_LISTENING</c> for gRPC.
/// </summary>
/// <remarks>
/// Prometheus scrapes over HTTP/1.1 while the gRPC listeners speak HTTP/2 only (h2c has no upgrade from 1.1), hence
/// a listener of its own.
/// </remarks>
public sealed class MuseMetricsEndpoint
{
    /// <summary>Prefix of the stdout line naming the metrics address.</summary>
    public const string Prefix = "MUSE_METRICS";

    /// <summary>Path of the scrape endpoint: <c>/metrics</c>.</summary>
    public const string Path = "/metrics";

    /// <summary>Name of the Kestrel endpoint (<c>Kestrel:Endpoints:MuseMetrics</c>) the option becomes.</summary>
    public const string EndpointName = "MuseMetrics";

    private ListenOptions? _listen;

    /// <summary>
    /// The bound address, e.g. <c>http://127.0.0.1:39211</c> (the real port when the option asked for 0); null before
    /// Kestrel has bound it. Scrape <c>Url + Path</c>.
    /// </summary>
    public Uri? Url => Volatile.Read(ref _listen)?.EndPoint is IPEndPoint { Port: > 0 } endPoint ? new Uri($"http://{endPoint}") : null;

    internal void Bind(ListenOptions listen) => Volatile.Write(ref _listen, listen);
}
