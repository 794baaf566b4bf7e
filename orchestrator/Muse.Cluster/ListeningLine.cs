using System.Diagnostics.CodeAnalysis;
using System.Net;

namespace Muse.Cluster;

/// <summary>
/// The one stdout line every Muse process prints once Kestrel listens: <c>MUSE_LISTENING http://127.0.0.1:45123</c>.
/// </summary>
public static class ListeningLine
{
    /// <summary>The marker that starts the line.</summary>
    public const string Marker = "MUSE_LISTENING";

    /// <summary>The marker of the orchestrator's web listener line (page, HTTP/JSON API), <c>MUSE_WEB &lt;url&gt;</c>.</summary>
    public const string WebMarker = "MUSE_WEB";

    /// <summary>The marker of a process's metrics listener line (<c>Muse:Hosting:MetricsUrl</c>), <c>MUSE_METRICS &lt;url&gt;</c>.</summary>
    public const string MetricsMarker = "MUSE_METRICS";

    /// <summary>Reads the address from a <c>MUSE_LISTENING &lt;url&gt;</c> line; false for any other line.</summary>
    /// <remarks>Only absolute http/https addresses count; path and trailing slash are dropped.</remarks>
    public static bool TryParse(string? line, [NotNullWhen(true)] out Uri? url) => TryParse(line, Marker, out url);

    /// <summary>Reads the address from a <c>&lt;marker&gt; &lt;url&gt;</c> line (e.g. <see cref="WebMarker"/>); false for any other line.</summary>
    public static bool TryParse(string? line, string marker, [NotNullWhen(true)] out Uri? url)
    {
        url = null;
        var trimmed = line?.Trim();
        if (trimmed is null || !trimmed.StartsWith(marker + " ", StringComparison.Ordinal))
        {
            return false;
        }

        var address = trimmed[marker.Length..].Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault();
        if (!Uri.TryCreate(address, UriKind.Absolute, out var parsed)
            || (parsed.Scheme != Uri.UriSchemeHttp && parsed.Scheme != Uri.UriSchemeHttps)
            || parsed.Port <= 0)
        {
            return false;
        }

        url = new Uri(parsed.GetLeftPart(UriPartial.Authority));
        return true;
    }

    /// <summary>The address as configuration and clients want it: scheme, host and port, no trailing slash.</summary>
    public static string Format(Uri url) => url.GetLeftPart(UriPartial.Authority);

    /// <summary>
    /// The address a local client dials for <paramref name="url"/>: a process listening on every interface
    /// (<c>0.0.0.0</c>, <c>[::]</c>, e.g. <c>muse up --host 0.0.0.0</c>) announces that wildcard, which is no
    /// destination, so it becomes loopback; any other address is kept.
    /// </summary>
    public static Uri Reachable(Uri url)
    {
        ArgumentNullException.ThrowIfNull(url);
        if (!IPAddress.TryParse(url.Host.Trim('[', ']'), out var host) || !(host.Equals(IPAddress.Any) || host.Equals(IPAddress.IPv6Any)))
        {
            return url;
        }

        var loopback = host.Equals(IPAddress.Any) ? IPAddress.Loopback : IPAddress.IPv6Loopback;
        return new UriBuilder(url) { Host = loopback.ToString() }.Uri;
    }
}
