namespace Muse.Cluster;

/// <summary>Everything needed to start one child process of a cluster, and to start it again after it died.</summary>
/// <param name="Stage">Stage served, or <c>orchestrator</c>.</param>
/// <param name="Replica">Replica index within the stage, from 0.</param>
/// <param name="Models">Model versions the process loads; empty for the orchestrator.</param>
/// <param name="FileName">Executable (the <c>dotnet</c> host, or <c>/bin/sh</c> in tests).</param>
/// <param name="Arguments">Its arguments; a <c>--urls</c> argument sets the address it listens on.</param>
/// <param name="Environment">Variables set on top of this process's environment.</param>
internal sealed record ChildLaunch(
    string Stage,
    int Replica,
    IReadOnlyList<string> Models,
    string FileName,
    IReadOnlyList<string> Arguments,
    IReadOnlyList<KeyValuePair<string, string>> Environment)
{
    private const string UrlsOption = "--urls";

    /// <summary>The certificate the child serves TLS with (the orchestrator under <c>--tls-cert</c>); health checks pin it.</summary>
    public System.Security.Cryptography.X509Certificates.X509Certificate2? ServerCertificate { get; init; }

    /// <summary>
    /// The same launch listening on <paramref name="url"/>: every <c>--urls</c> value is replaced (a first start asks
    /// for port 0; a restart asks for the port the first start got, so the endpoints the orchestrator was given stay
    /// valid). The scheme and host asked for are kept (a child on every interface, <c>0.0.0.0</c>, is reached on
    /// loopback but must bind every interface again). Arguments without <c>--urls</c> are kept as they are.
    /// </summary>
    public ChildLaunch ListeningOn(Uri url)
    {
        var arguments = Arguments.ToArray();
        for (var i = 0; i < arguments.Length; i++)
        {
            if (arguments[i] == UrlsOption && i + 1 < arguments.Length)
            {
                i++;
                arguments[i] = WithPort(arguments[i], url);
            }
            else if (arguments[i].StartsWith(UrlsOption + "=", StringComparison.Ordinal))
            {
                arguments[i] = $"{UrlsOption}={WithPort(arguments[i][(UrlsOption.Length + 1)..], url)}";
            }
        }

        return this with { Arguments = arguments };
    }

    private static string WithPort(string asked, Uri url) =>
        ListeningLine.Format(Uri.TryCreate(asked, UriKind.Absolute, out var original) ? new UriBuilder(original) { Port = url.Port }.Uri : url);
}
