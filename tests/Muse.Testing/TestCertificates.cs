using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Muse.Testing;

/// <summary>
/// A self-signed TLS certificate for loopback (SAN 127.0.0.1, ::1, localhost), made for one test run and written as PEM
/// files into a temporary folder that is deleted on dispose. No private key is ever committed.
/// </summary>
public sealed class TestCertificates : IDisposable
{
    /// <summary>Creates the certificate and writes <see cref="CertificateFile"/> and <see cref="KeyFile"/>.</summary>
    public TestCertificates()
    {
        Folder = Directory.CreateTempSubdirectory("muse-tls-").FullName;
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=muse-test", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(IPAddress.Loopback);
        names.AddIpAddress(IPAddress.IPv6Loopback);
        names.AddDnsName("localhost");
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: true, false, 0, critical: true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], critical: false));
        var now = TimeProvider.System.GetUtcNow();
        using var certificate = request.CreateSelfSigned(now.AddMinutes(-5), now.AddDays(1));
        CertificateFile = Path.Combine(Folder, "cert.pem");
        KeyFile = Path.Combine(Folder, "key.pem");
        File.WriteAllText(CertificateFile, certificate.ExportCertificatePem());
        File.WriteAllText(KeyFile, key.ExportPkcs8PrivateKeyPem());
    }

    /// <summary>Folder holding the files.</summary>
    public string Folder { get; }

    /// <summary>PEM certificate; it is also the CA a client trusts (<c>--ca</c>).</summary>
    public string CertificateFile { get; }

    /// <summary>PEM private key.</summary>
    public string KeyFile { get; }

    /// <inheritdoc/>
    public void Dispose() => Directory.Delete(Folder, recursive: true);
}
