using System.ComponentModel.DataAnnotations;

namespace Muse.Hosting;

/// <summary>
/// Configuration section <c>Muse:Hosting</c>: limits and formats shared by every stage process.
/// Listening addresses are not here: they come from the standard <c>ASPNETCORE_URLS</c> / <c>--urls</c>
/// (default <see cref="DefaultUrl"/>).
/// </summary>
public sealed class MuseHostingOptions
{
    /// <summary>Configuration section name.</summary>
    public const string Section = "Muse:Hosting";

    /// <summary>Address used when no URL is configured: loopback, ephemeral port (see the <c>MUSE_LISTENING</c> line).</summary>
    public const string DefaultUrl = "http://127.0.0.1:0";

    /// <summary>Default of <see cref="MaxReceiveMessageSize"/> and <see cref="MaxSendMessageSize"/>: 16 MiB.</summary>
    public const int DefaultMessageSize = 16 * 1024 * 1024;

    /// <summary>
    /// Largest gRPC request message accepted, in bytes. Default 16 MiB: a batch of text embeddings or an
    /// uploaded image fits; larger requests fail with <c>RESOURCE_EXHAUSTED</c> before reaching a service.
    /// </summary>
    [Range(1024, int.MaxValue)]
    public int MaxReceiveMessageSize { get; set; } = DefaultMessageSize;

    /// <summary>Largest gRPC reply message sent, in bytes. Default 16 MiB.</summary>
    [Range(1024, int.MaxValue)]
    public int MaxSendMessageSize { get; set; } = DefaultMessageSize;

    /// <summary>
    /// A connection with no request in flight is closed after this long (Kestrel <c>KeepAliveTimeout</c>; also a
    /// raw connection that never sends its HTTP/2 preface). Default 30 s; clients reconnect by themselves.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan IdleConnectionTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Time a client has to send a request's headers (Kestrel <c>RequestHeadersTimeout</c>). Default 10 s.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "00:10:00")]
    public TimeSpan RequestHeadersTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Concurrent HTTP/2 streams (calls) per connection; more wait in the client. Default 100 (Kestrel's), so one
    /// connection cannot hold more than that many calls open.
    /// </summary>
    [Range(1, 10_000)]
    public int MaxStreamsPerConnection { get; set; } = 100;

    /// <summary>
    /// Largest total size of a request's headers (metadata), in bytes. Default 16 KiB: a credential and tracing
    /// headers fit many times; more is refused by Kestrel before any service code runs.
    /// </summary>
    [Range(1024, 1024 * 1024)]
    public int MaxRequestHeadersSize { get; set; } = 16 * 1024;

    /// <summary>
    /// HTTP/2 keep-alive: a connection silent this long gets a PING, and one that does not answer within the same time
    /// again is closed, so a client that vanished without closing (network gone) frees its calls. Default 30 s.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan KeepAlivePing { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Console log format: <see cref="ConsoleLogFormat.Json"/> (default; one JSON object per line, structured
    /// fields kept) or <see cref="ConsoleLogFormat.Simple"/> (one human-readable line per entry).
    /// </summary>
    public ConsoleLogFormat LogFormat { get; set; } = ConsoleLogFormat.Json;

    /// <summary>
    /// Stop gracefully when standard input reaches end of file (default false). The local cluster launcher sets it
    /// and holds its children's stdin pipes, so they stop with the launcher even when it is killed outright.
    /// </summary>
    public bool StopWhenStdinCloses { get; set; }

    /// <summary>
    /// Address of an extra HTTP/1.1 listener serving Prometheus metrics at <c>/metrics</c>, e.g.
    /// <c>http://127.0.0.1:0</c> (ephemeral port, printed as <c>MUSE_METRICS &lt;url&gt;</c>) or
    /// <c>http://0.0.0.0:9464</c>. Use an IP address, not <c>localhost</c>. Default unset: no such listener.
    /// </summary>
    public string? MetricsUrl { get; set; }
}

/// <summary>How log entries are written to the console.</summary>
public enum ConsoleLogFormat
{
    /// <summary>One JSON object per line, with the message template's named values as fields.</summary>
    Json,

    /// <summary>One human-readable line per entry.</summary>
    Simple,
}
