using System.Net;
using System.Net.Sockets;

namespace Muse.Orchestrator.Replicas;

/// <summary>Turns a host name into the addresses of its replicas (the seam tests replace).</summary>
public interface IReplicaResolver
{
    /// <summary>Every address <paramref name="host"/> resolves to now.</summary>
    Task<IReadOnlyList<IPAddress>> ResolveAsync(string host, CancellationToken ct);
}

/// <summary>
/// The system resolver (<see cref="Dns.GetHostAddressesAsync(string, CancellationToken)"/>), IPv4 and IPv6: a
/// Kubernetes headless Service answers with one address per ready pod.
/// </summary>
public sealed class DnsReplicaResolver : IReplicaResolver
{
    /// <inheritdoc/>
    public async Task<IReadOnlyList<IPAddress>> ResolveAsync(string host, CancellationToken ct) =>
        await Dns.GetHostAddressesAsync(host, ct);
}

/// <summary>The two forms of a configured endpoint: a replica URL, or <c>dns:///name:port</c> (one replica per address).</summary>
public static class ReplicaEndpoints
{
    private const string DnsScheme = "dns:///";

    /// <summary>
    /// True when <paramref name="endpoint"/> is <c>dns:///host:port</c>; <paramref name="host"/> and
    /// <paramref name="port"/> are then its parts.
    /// </summary>
    /// <exception cref="FormatException">A <c>dns:///</c> endpoint without a valid port.</exception>
    public static bool TryParseDns(string endpoint, out string host, out int port)
    {
        host = "";
        port = 0;
        if (!endpoint.StartsWith(DnsScheme, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        var rest = endpoint[DnsScheme.Length..].TrimEnd('/');
        var colon = rest.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(rest[(colon + 1)..], out port) || port is < 1 or > 65535)
        {
            throw new FormatException($"Endpoint '{endpoint}' must be dns:///name:port.");
        }

        host = rest[..colon].Trim('[', ']');
        return true;
    }

    /// <summary>The replica URL of one resolved address, e.g. <c>http://10.1.2.3:5001</c> or <c>http://[fd00::3]:5001</c>.</summary>
    public static string Url(IPAddress address, int port) =>
        address.AddressFamily == AddressFamily.InterNetworkV6 ? $"http://[{address}]:{port}" : $"http://{address}:{port}";
}
