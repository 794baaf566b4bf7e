using System.Diagnostics;
using System.Net.Sockets;
using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Net.Client;
using Muse.Hosting;
using Muse.Inference;
using Muse.Protos.V1;
using Muse.Repository;
using Muse.Testing;
using Muse.TextEncoder;

namespace Muse.Services.Tests;

/// <summary>
/// A text-encoder stage as a secured deployment runs it: TLS from PEM files and the cluster credential, plus a
/// plaintext one with the credential and short connection limits; real Kestrel on loopback, the real T5.
/// </summary>
public sealed class SecuredStageHosts : IAsyncLifetime
{
    public const string Token = "cluster-credential-for-tests-0123456789";

    /// <summary>Streams the plaintext host allows on one connection.</summary>
    public const int MaxStreams = 3;

    public TestCertificates Certificates { get; } = new();

    public StageHost Tls { get; private set; } = null!;

    public StageHost Plain { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Tls = await StartAsync(new()
        {
            ["urls"] = "http://127.0.0.1:0",
            ["Muse:Security:Tls:CertificateFile"] = Certificates.CertificateFile,
            ["Muse:Security:Tls:KeyFile"] = Certificates.KeyFile,
            ["Muse:Hosting:RequestHeadersTimeout"] = "00:00:02",
        });
        Plain = await StartAsync(new()
        {
            ["Muse:Hosting:IdleConnectionTimeout"] = "00:00:02",
            ["Muse:Hosting:MaxReceiveMessageSize"] = "65536",
            ["Muse:Hosting:MaxStreamsPerConnection"] = MaxStreams.ToString(System.Globalization.CultureInfo.InvariantCulture),
        });
    }

    public async Task DisposeAsync()
    {
        await Tls.DisposeAsync();
        await Plain.DisposeAsync();
        Certificates.Dispose();
    }

    private static Task<StageHost> StartAsync(Dictionary<string, string?> settings)
    {
        settings["Muse:Inference:Models:0"] = TextEncoderHost.Model;
        settings["Muse:Security:InternalToken"] = Token;
        return StageHost.StartAsync(
            builder =>
            {
                builder.AddMuseStage(Stages.TextEncoder);
                builder.AddTextEncoder();
            },
            app => app.MapMuseStage<TextEncoderService>(),
            settings);
    }
}

public sealed class SecurityTests(SecuredStageHosts hosts) : IClassFixture<SecuredStageHosts>
{
    private static readonly Method<byte[], byte[]> RawEncode = new(
        MethodType.Unary, "muse.v1.TextEncoder", "Encode",
        Marshallers.Create(bytes => bytes, bytes => bytes), Marshallers.Create(bytes => bytes, bytes => bytes));

    [Fact]
    public void TlsHost_ListensOnHttpsOnly()
    {
        Assert.Equal(Uri.UriSchemeHttps, hosts.Tls.Address.Scheme);
    }

    [Fact]
    public async Task DirectCall_WithoutCredential_IsUnauthenticated_AndHealthStaysOpen()
    {
        using var channel = Cluster.MuseChannels.Create(hosts.Tls.Address, hosts.Certificates.CertificateFile);

        var ex = await Errors.AssertStatusAsync(StatusCode.Unauthenticated,
            () => new Protos.V1.TextEncoder.TextEncoderClient(channel).EncodeAsync(new EncodeRequest { Texts = { "a red circle" } }).ResponseAsync);
        var health = await new Health.HealthClient(channel).CheckAsync(new HealthCheckRequest { Service = "ready" });

        Assert.Contains("cluster credential", ex.Status.Detail, StringComparison.Ordinal);
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, health.Status);
    }

    [Fact]
    public async Task DirectCall_WrongCredential_IsUnauthenticated_EvenForStageInfo()
    {
        using var channel = Cluster.MuseChannels.Create(hosts.Tls.Address, hosts.Certificates.CertificateFile, bearer: "not-the-token-0123456789");

        await Errors.AssertStatusAsync(StatusCode.Unauthenticated,
            () => new StageInfo.StageInfoClient(channel).GetStageInfoAsync(new GetStageInfoRequest()).ResponseAsync);
    }

    [Fact]
    public async Task CallWithCredential_OverTls_Encodes()
    {
        using var channel = Cluster.MuseChannels.Create(hosts.Tls.Address, hosts.Certificates.CertificateFile, SecuredStageHosts.Token);

        var reply = await new Protos.V1.TextEncoder.TextEncoderClient(channel).EncodeAsync(new EncodeRequest { Texts = { "a red circle" } });

        Assert.NotEmpty(reply.Embeddings.Data);
    }

    [Fact]
    public async Task Plaintext_ToTlsPort_IsRefused()
    {
        var plaintext = new UriBuilder(hosts.Tls.Address) { Scheme = Uri.UriSchemeHttp }.Uri;
        using var channel = Cluster.MuseChannels.Create(plaintext, bearer: SecuredStageHosts.Token);
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(30));

        var ex = await Assert.ThrowsAsync<RpcException>(() => new Health.HealthClient(channel)
            .CheckAsync(new HealthCheckRequest(), cancellationToken: bound.Token).ResponseAsync);

        Assert.NotEqual(StatusCode.Cancelled, ex.StatusCode);
    }

    [Fact]
    public async Task UntrustedCertificate_IsRefusedByTheClient()
    {
        using var other = new TestCertificates();
        using var channel = Cluster.MuseChannels.Create(hosts.Tls.Address, other.CertificateFile, SecuredStageHosts.Token);

        var ex = await Assert.ThrowsAsync<RpcException>(() => new Health.HealthClient(channel).CheckAsync(new HealthCheckRequest()).ResponseAsync);

        // grpc-dotnet reports a failed TLS handshake as UNAVAILABLE or INTERNAL, depending on where it surfaces.
        Assert.True(ex.StatusCode is StatusCode.Unavailable or StatusCode.Internal, $"{ex.StatusCode}: {ex.Status.Detail}");
    }

    [Fact]
    public async Task InvalidUtf8_IsInvalidArgument_SayingWhatIsWrong()
    {
        using var channel = Cluster.MuseChannels.Create(hosts.Plain.Address, bearer: SecuredStageHosts.Token);
        var invoker = channel.CreateCallInvoker();
        // texts[0] (field 1, length-delimited) = C3 28: not UTF-8.
        byte[] message = [0x0A, 0x02, 0xC3, 0x28];

        var ex = await Errors.AssertStatusAsync(StatusCode.InvalidArgument,
            () => invoker.AsyncUnaryCall(RawEncode, null, new CallOptions(), message).ResponseAsync);

        Assert.Contains("not a valid EncodeRequest", ex.Status.Detail, StringComparison.Ordinal);
        Assert.Contains("UTF-8", ex.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TruncatedMessage_IsInvalidArgument()
    {
        using var channel = Cluster.MuseChannels.Create(hosts.Plain.Address, bearer: SecuredStageHosts.Token);
        byte[] message = [0x0A, 0x10, 0x61];

        await Errors.AssertStatusAsync(StatusCode.InvalidArgument,
            () => channel.CreateCallInvoker().AsyncUnaryCall(RawEncode, null, new CallOptions(), message).ResponseAsync);
    }

    [Fact]
    public async Task HugeModelName_ErrorIsBounded_AndTheConnectionKeepsServing()
    {
        using var channel = Cluster.MuseChannels.Create(hosts.Tls.Address, hosts.Certificates.CertificateFile, SecuredStageHosts.Token);
        var client = new Protos.V1.TextEncoder.TextEncoderClient(channel);
        var name = new string('m', 64 * 1024);
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(30));

        var ex = await Errors.AssertStatusAsync(StatusCode.NotFound, () => client.EncodeAsync(
            new EncodeRequest { Texts = { "a red circle" }, Model = name }, cancellationToken: bound.Token).ResponseAsync);
        var next = await client.EncodeAsync(new EncodeRequest { Texts = { "a blue square" } }, cancellationToken: bound.Token);

        Assert.InRange(ex.Status.Detail.Length, 1, 1024);
        Assert.Contains("(65536 characters)", ex.Status.Detail, StringComparison.Ordinal);
        Assert.NotEmpty(next.Embeddings.Data);
    }

    [Fact]
    public async Task OversizedMessage_IsResourceExhausted()
    {
        using var channel = Cluster.MuseChannels.Create(hosts.Plain.Address, bearer: SecuredStageHosts.Token);

        var ex = await Errors.AssertStatusAsync(StatusCode.ResourceExhausted, () => new Protos.V1.TextEncoder.TextEncoderClient(channel)
            .EncodeAsync(new EncodeRequest { Texts = { new string('a', 100_000) } }).ResponseAsync);

        Assert.Contains("exceeds the maximum", ex.Status.Detail, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task OversizedHeaders_AreRefused_AndTheServerKeepsServing()
    {
        using var channel = Cluster.MuseChannels.Create(hosts.Plain.Address, bearer: SecuredStageHosts.Token);
        var client = new Protos.V1.TextEncoder.TextEncoderClient(channel);
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        // 20 KB of metadata: over MaxRequestHeadersSize (16 KiB by default).
        var headers = new Metadata { { "x-padding", new string('h', 20 * 1024) } };

        var ex = await Assert.ThrowsAsync<RpcException>(() => client.EncodeAsync(
            new EncodeRequest { Texts = { "a red circle" } }, headers, cancellationToken: bound.Token).ResponseAsync);
        var next = await client.EncodeAsync(new EncodeRequest { Texts = { "a blue square" } }, cancellationToken: bound.Token);

        Assert.NotEqual(StatusCode.OK, ex.StatusCode);
        Assert.NotEqual(StatusCode.DeadlineExceeded, ex.StatusCode);    // refused, not left to hang
        Assert.NotEmpty(next.Embeddings.Data);
    }

    [Fact]
    public async Task StreamsPerConnection_AreAnnouncedToClients_AsTheConfiguredCap()
    {
        // HTTP/2 prior knowledge: the client preface and an empty SETTINGS frame; Kestrel answers with its SETTINGS,
        // where SETTINGS_MAX_CONCURRENT_STREAMS (0x3) is what bounds every client's open calls on the connection.
        using var client = new TcpClient();
        await client.ConnectAsync(hosts.Plain.Address.Host, hosts.Plain.Address.Port);
        var stream = client.GetStream();
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        byte[] preface = [.. "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8, 0, 0, 0, 0x4, 0, 0, 0, 0, 0];
        await stream.WriteAsync(preface, bound.Token);

        var header = new byte[9];
        await stream.ReadExactlyAsync(header, bound.Token);
        var length = (header[0] << 16) | (header[1] << 8) | header[2];
        var payload = new byte[length];
        await stream.ReadExactlyAsync(payload, bound.Token);
        var settings = new Dictionary<int, long>();
        for (var i = 0; i + 6 <= length; i += 6)
        {
            settings[(payload[i] << 8) | payload[i + 1]] =
                ((long)payload[i + 2] << 24) | ((long)payload[i + 3] << 16) | ((long)payload[i + 4] << 8) | payload[i + 5];
        }

        Assert.Equal(0x4, header[3]);    // a SETTINGS frame
        Assert.Equal(SecuredStageHosts.MaxStreams, settings.GetValueOrDefault(0x3));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task RawConnectionThatSendsNothing_IsClosed(bool tls)
    {
        var address = tls ? hosts.Tls.Address : hosts.Plain.Address;
        using var client = new TcpClient();
        await client.ConnectAsync(address.Host, address.Port);
        var stream = client.GetStream();
        var started = Stopwatch.GetTimestamp();
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(30));

        var buffer = new byte[4096];
        int read;
        try
        {
            // Kestrel may write a SETTINGS frame first (h2c); read until it closes the connection.
            do
            {
                read = await stream.ReadAsync(buffer, bound.Token);
            }
            while (read > 0);
        }
        catch (IOException)
        {
            read = 0;
        }

        var elapsed = Stopwatch.GetElapsedTime(started);
        Assert.Equal(0, read);
        Assert.InRange(elapsed, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(20));
    }
}
