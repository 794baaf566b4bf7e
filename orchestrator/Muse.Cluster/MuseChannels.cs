using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Grpc.Core;
using Grpc.Net.Client;

namespace Muse.Cluster;

/// <summary>
/// Channels to Muse services, as every client here makes them (<c>muse</c> commands, the cluster launcher, tests):
/// <c>https://</c> addresses verified against the system's roots or a given CA file, and an optional bearer credential
/// (an API key, or the cluster's internal token) on every call.
/// </summary>
public static class MuseChannels
{
    /// <summary>Largest message sent or received: 64 MiB, above any server limit, so the server's limit is the one that speaks.</summary>
    public const int MessageSize = 64 * 1024 * 1024;

    /// <summary>
    /// A channel to <paramref name="url"/>. With <paramref name="caFile"/> (PEM, one or more certificates) the server's
    /// chain must end in one of them instead of a system root; the host name is checked either way.
    /// <paramref name="pinned"/> (the launcher checking its own child) accepts exactly that certificate, whatever the
    /// name. <paramref name="bearer"/> is sent as <c>authorization: Bearer …</c>.
    /// </summary>
    /// <remarks>The caller owns the channel.</remarks>
    public static GrpcChannel Create(Uri url, string? caFile = null, string? bearer = null, X509Certificate2? pinned = null)
    {
        ArgumentNullException.ThrowIfNull(url);
        var handler = new SocketsHttpHandler { EnableMultipleHttp2Connections = true };
        if (pinned is not null)
        {
            handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, _, _) =>
                certificate is not null && certificate.GetRawCertData().AsSpan().SequenceEqual(pinned.RawData);
        }
        else if (caFile is not null)
        {
            var roots = new X509Certificate2Collection();
            roots.ImportFromPemFile(caFile);
            if (roots.Count == 0)
            {
                throw new ArgumentException($"{caFile} holds no PEM certificate.", nameof(caFile));
            }

            handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, _, errors) =>
                certificate is not null && (errors & ~SslPolicyErrors.RemoteCertificateChainErrors) == SslPolicyErrors.None
                && ChainsTo(new X509Certificate2(certificate), roots);
        }

        var options = new GrpcChannelOptions
        {
            HttpHandler = handler,
            DisposeHttpClient = true,
            MaxReceiveMessageSize = MessageSize,
            MaxSendMessageSize = MessageSize,
        };
        if (bearer is not null)
        {
            var credentials = CallCredentials.FromInterceptor((_, metadata) =>
            {
                metadata.Add("authorization", "Bearer " + bearer);
                return Task.CompletedTask;
            });
            options.Credentials = ChannelCredentials.Create(
                url.Scheme == Uri.UriSchemeHttps ? ChannelCredentials.SecureSsl : ChannelCredentials.Insecure, credentials);
            // A key over plaintext is only sensible on loopback (muse up without TLS); grpc-dotnet refuses it otherwise.
            options.UnsafeUseInsecureChannelCallCredentials = true;
        }

        return GrpcChannel.ForAddress(url, options);
    }

    private static bool ChainsTo(X509Certificate2 certificate, X509Certificate2Collection roots)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(roots);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        return chain.Build(certificate);
    }
}
