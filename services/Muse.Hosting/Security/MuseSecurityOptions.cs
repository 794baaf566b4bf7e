using System.ComponentModel.DataAnnotations;

namespace Muse.Hosting.Security;

/// <summary>
/// Configuration section <c>Muse:Security</c>, the same keys in every process (docs/architecture.md, "Security").
/// Everything is off by default, which is safe only on loopback: the orchestrator refuses to start on another address
/// without <see cref="ApiKeysFile"/> or <see cref="AllowAnonymous"/>.
/// </summary>
public sealed class MuseSecurityOptions
{
    /// <summary>Configuration section name.</summary>
    public const string Section = "Muse:Security";

    /// <summary>
    /// The cluster credential: stage processes refuse every call (but health checks) that does not carry
    /// <c>authorization: Bearer TOKEN</c>, and the orchestrator presents it on every stage call. Environment
    /// <c>Muse__Security__InternalToken</c>; in Kubernetes Secret <c>muse-internal-token</c>, key <c>token</c>. At least
    /// 16 characters; unset = stages answer anyone who reaches them.
    /// </summary>
    [MinLength(16)]
    public string? InternalToken { get; set; }

    /// <summary>
    /// Orchestrator only: the API key file written by <c>muse keys</c> (salted hashes and per-key limits). Callers must
    /// send <c>authorization: Bearer KEY</c>. Reloaded when the file changes.
    /// </summary>
    public string? ApiKeysFile { get; set; }

    /// <summary>
    /// Orchestrator only: serve callers without a key on a non-loopback address. Default false: without
    /// <see cref="ApiKeysFile"/> the orchestrator then refuses to start.
    /// </summary>
    public bool AllowAnonymous { get; set; }

    /// <summary>Debug switch: log each request's prompt (default false: prompts and images are never logged).</summary>
    public bool LogPrompts { get; set; }

    /// <summary>TLS of the gRPC listeners, from PEM files.</summary>
    public TlsOptions Tls { get; set; } = new();
}

/// <summary>Configuration <c>Muse:Security:Tls</c>: both files or neither.</summary>
public sealed class TlsOptions
{
    /// <summary>PEM certificate (chain) the listeners present. With it, every gRPC address is served over TLS only.</summary>
    public string? CertificateFile { get; set; }

    /// <summary>PEM private key of <see cref="CertificateFile"/>.</summary>
    public string? KeyFile { get; set; }

    /// <summary>True when a certificate is configured.</summary>
    public bool Enabled => !string.IsNullOrWhiteSpace(CertificateFile) || !string.IsNullOrWhiteSpace(KeyFile);
}
