namespace Muse.Hosting;

/// <summary>
/// The optional HTTP/1.1 listener on which a process serves <see cref="Path"/> in the Prometheus text format
/// (<see cref="MuseHostingOptions.MetricsUrl"/>). Registered only when that option is set; once Kestrel listens the
/// process prints <c>MUSE_METRICS &lt;url&gt;</c> on stdout, as it prints <c>MUSE_LISTENING</c> for gRPC.
/// </summary>
/// <remarks>Prometheus scrapes over HTTP/1.1 while the gRPC listeners speak HTTP/2 only (see <see cref="MuseHttp1Listener"/>).</remarks>
public sealed class MuseMetricsEndpoint() : MuseHttp1Listener(EndpointName, Prefix)
{
    /// <summary>Prefix of the stdout line naming the metrics address.</summary>
    public new const string Prefix = "MUSE_METRICS";

    /// <summary>Path of the scrape endpoint: <c>/metrics</c>.</summary>
    public const string Path = "/metrics";

    /// <summary>Name of the Kestrel endpoint (<c>Kestrel:Endpoints:MuseMetrics</c>) the option becomes.</summary>
    public new const string EndpointName = "MuseMetrics";
}
