using System.Net;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Muse.Hosting;

/// <summary>
/// An extra Kestrel listener that speaks HTTP/1.1 beside the HTTP/2-only gRPC listeners, added with
/// <see cref="MuseHostingExtensions.AddMuseHttp1Listener{TBuilder, TListener}"/>. Once Kestrel listens the process prints
/// <c>&lt;Prefix&gt; &lt;url&gt;</c> on stdout (as it prints <c>MUSE_LISTENING</c> for gRPC), and its address is left out
/// of the <c>MUSE_LISTENING</c> lines so launchers never take it for a gRPC address.
/// </summary>
/// <remarks>
/// Browsers, curl and Prometheus speak HTTP/1.1 in cleartext, while h2c has no upgrade from 1.1: hence listeners of
/// their own. Every mapped endpoint is reachable on every listener; what a listener is for is its protocol.
/// </remarks>
/// <param name="endpointName">Name of the Kestrel endpoint, <c>Kestrel:Endpoints:&lt;name&gt;</c>.</param>
/// <param name="prefix">Marker of the stdout line announcing the address, e.g. <c>MUSE_METRICS</c>.</param>
public class MuseHttp1Listener(string endpointName, string prefix)
{
    private ListenOptions? _listen;
    private string _scheme = Uri.UriSchemeHttp;

    /// <summary>Name of the Kestrel endpoint this listener is.</summary>
    public string EndpointName { get; } = endpointName;

    /// <summary>Marker of the stdout line naming the address.</summary>
    public string Prefix { get; } = prefix;

    /// <summary>
    /// The bound address, e.g. <c>http://127.0.0.1:39211</c> (the real port when the configuration asked for 0;
    /// <c>https</c> when the endpoint is TLS); null before Kestrel has bound it.
    /// </summary>
    public Uri? Url => Volatile.Read(ref _listen)?.EndPoint is IPEndPoint { Port: > 0 } endPoint ? new Uri($"{_scheme}://{endPoint}") : null;

    internal void Bind(ListenOptions listen, bool https)
    {
        _scheme = https ? Uri.UriSchemeHttps : Uri.UriSchemeHttp;
        Volatile.Write(ref _listen, listen);
    }
}
