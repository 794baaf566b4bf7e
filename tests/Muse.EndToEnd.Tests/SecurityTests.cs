using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography.X509Certificates;
using Grpc.Core;
using Grpc.Net.Client;
using Muse.Cluster;
using Muse.Protos.V1;
using Muse.Testing;
using Xunit.Abstractions;

namespace Muse.EndToEnd.Tests;

/// <summary>
/// A cluster run as `muse up --tls-cert --tls-key --api-keys --web-port 0` would run it (stages behind the per-run
/// cluster credential), one request at a time, a 2 s client read timeout and a plaintext loopback metrics listener;
/// keys made by the real `muse keys` command.
/// </summary>
public sealed class SecureClusterFixture : IAsyncLifetime
{
    private LocalCluster? _cluster;
    private Uri? _metrics;

    public TestCertificates Certificates { get; } = new();

    public string KeysFile => Path.Combine(Certificates.Folder, "keys.json");

    public LocalCluster Cluster => _cluster ?? throw new InvalidOperationException("Not started.");

    public Dictionary<string, string> Keys { get; } = [];

    private const string MetricsPath = "/metrics";

    public async Task InitializeAsync()
    {
        await CreateKeyAsync("alice");
        await CreateKeyAsync("two-per-minute", "--requests-per-minute", "2");
        await CreateKeyAsync("one-at-a-time", "--max-concurrent", "1");
        await CreateKeyAsync("leaver");
        await CreateKeyAsync("web-one-per-minute", "--requests-per-minute", "1");
        // The abuse test's keys: two that go over their limits, two whose clients stay within theirs.
        await CreateKeyAsync("abuse-per-minute", "--requests-per-minute", "3");
        await CreateKeyAsync("abuse-one-at-a-time", "--max-concurrent", "1");
        await CreateKeyAsync("steady-a", "--requests-per-minute", "600", "--max-concurrent", "4");
        await CreateKeyAsync("steady-b", "--requests-per-minute", "600", "--max-concurrent", "4");
        var options = new LocalClusterOptions
        {
            TlsCertificateFile = Certificates.CertificateFile,
            TlsKeyFile = Certificates.KeyFile,
            ApiKeysFile = KeysFile,
            WebPort = 0,
        };
        options.StageArguments.Add("--Muse:Inference:IntraOpThreads=1");
        options.OrchestratorArguments.Add("--Muse:Queue:MaxConcurrent=1");
        options.OrchestratorArguments.Add("--Muse:Queue:ClientReadTimeout=00:00:02");
        options.OrchestratorArguments.Add("--Muse:Hosting:MetricsUrl=http://127.0.0.1:0");
        _cluster = await LocalCluster.StartAsync(options);
        var line = await ClusterFixture.OutputLineAsync(
            Cluster.Orchestrator, l => ListeningLine.TryParse(l, ListeningLine.MetricsMarker, out _), "metrics address", TimeSpan.FromSeconds(30));
        _metrics = ListeningLine.TryParse(line, ListeningLine.MetricsMarker, out var url) ? new Uri(url, MetricsPath) : null;
    }

    public async Task DisposeAsync()
    {
        if (_cluster is not null)
        {
            await _cluster.DisposeAsync();
        }

        Certificates.Dispose();
    }

    /// <summary>A channel to the orchestrator trusting the test CA, presenting <paramref name="key"/> (a name of <see cref="Keys"/>, or a raw key).</summary>
    public GrpcChannel Channel(string? key) =>
        MuseChannels.Create(Cluster.OrchestratorUrl, Certificates.CertificateFile, key is null ? null : Keys.GetValueOrDefault(key, key));

    /// <summary>An HTTP/1.1 client of the web listener (<see cref="LocalCluster.WebUrl"/>) trusting exactly the test CA.</summary>
    public HttpClient Web()
    {
        var handler = new SocketsHttpHandler();
        handler.SslOptions.CertificateChainPolicy = new X509ChainPolicy
        {
            TrustMode = X509ChainTrustMode.CustomRootTrust,
            RevocationMode = X509RevocationMode.NoCheck,
            CustomTrustStore = { X509Certificate2.CreateFromPem(File.ReadAllText(Certificates.CertificateFile)) },
        };
        return new HttpClient(handler) { BaseAddress = Cluster.WebUrl };
    }

    /// <summary>
    /// The orchestrator's gauges <c>muse_orchestrator_requests_in_flight</c> and <c>muse_orchestrator_queue_depth</c>,
    /// read from its <c>/metrics</c>.
    /// </summary>
    public async Task<(int InFlight, int Queued)> AdmissionGaugesAsync(CancellationToken ct)
    {
        using var http = new HttpClient();
        var text = await http.GetStringAsync(_metrics, ct);
        return (Gauge(text, "muse_orchestrator_requests_in_flight"), Gauge(text, "muse_orchestrator_queue_depth"));

        static int Gauge(string text, string name) => text.Split('\n')
            .Where(l => l.StartsWith(name, StringComparison.Ordinal) && l.Length > name.Length && l[name.Length] is ' ' or '{')
            .Select(l => int.Parse(l[(l.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture))
            .Single();
    }

    /// <summary>
    /// Polls <see cref="AdmissionGaugesAsync"/> until nothing runs or waits; the time that took. The gauges are sampled
    /// state, which nothing signals, so this polls every 50 ms up to <paramref name="bound"/> (a hang guard).
    /// </summary>
    public async Task<TimeSpan> WaitUntilIdleAsync(TimeSpan bound, CancellationToken ct)
    {
        var started = Stopwatch.GetTimestamp();
        var gauges = await AdmissionGaugesAsync(ct);
        while (gauges != (0, 0) && Stopwatch.GetElapsedTime(started) < bound)
        {
#pragma warning disable RS0030 // Polling a sampled gauge, see above.
            await Task.Delay(TimeSpan.FromMilliseconds(50), ct);
#pragma warning restore RS0030
            gauges = await AdmissionGaugesAsync(ct);
        }

        Assert.True(gauges == (0, 0), $"Still {gauges.InFlight} request(s) in flight and {gauges.Queued} queued after {bound.TotalSeconds:0} s.");
        return Stopwatch.GetElapsedTime(started);
    }

    public async Task CreateKeyAsync(string name, params string[] limits)
    {
        var (exit, stdout, stderr) = await MuseCli.RunAsync(["keys", "create", name, "--file", KeysFile, .. limits]);
        Assert.True(exit == 0, stderr);
        Keys[name] = stdout.Trim().Split('\n')[^1].Trim();
    }
}

[CollectionDefinition(Name)]
public sealed class SecureCluster : ICollectionFixture<SecureClusterFixture>
{
    public const string Name = "secure cluster";
}

[Collection(SecureCluster.Name)]
public sealed class SecurityTests(SecureClusterFixture fixture, ITestOutputHelper output)
{
    private static readonly TimeSpan Bound = TimeSpan.FromMinutes(2);

    private static GenerateRequest Small(ulong seed) => new()
    {
        Prompt = "a large red circle on the left",
        Seed = seed,
        Decoding = new DecodingOptions { BaseSteps = 2, SrSteps = 2 },
    };

    [Fact]
    public void Cluster_ServesTls_AndTheKeyFileHoldsNoKey()
    {
        var file = File.ReadAllText(fixture.KeysFile);

        Assert.Equal(Uri.UriSchemeHttps, fixture.Cluster.OrchestratorUrl.Scheme);
        // muse_<id>_<secret>: the secret is base64url and may itself hold '_'.
        Assert.All(fixture.Keys.Values, key => Assert.DoesNotContain(key.Split('_', 3)[2], file, StringComparison.Ordinal));
        Assert.All(fixture.Keys.Values, key => Assert.StartsWith("muse_", key, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("muse_000000000000_wrong")]
    [InlineData("not-a-muse-key")]
    public async Task NoOrWrongKey_IsUnauthenticated(string? key)
    {
        using var channel = fixture.Channel(key);

        var ex = await Assert.ThrowsAsync<RpcException>(() => new Protos.V1.Muse.MuseClient(channel).ListModelsAsync(new ListModelsRequest()).ResponseAsync);

        Assert.Equal(StatusCode.Unauthenticated, ex.StatusCode);
    }

    [Fact]
    public async Task ValidKey_GeneratesOverTls()
    {
        using var channel = fixture.Channel("alice");
        using var bound = new CancellationTokenSource(Bound);

        var result = await GenerateAsync(new Protos.V1.Muse.MuseClient(channel), Small(1), bound.Token);

        Assert.NotEmpty(result.Image);
    }

    [Fact]
    public async Task RevokedKey_IsRefusedFromTheNextCall_WithoutRestart()
    {
        using var channel = fixture.Channel("leaver");
        var client = new Protos.V1.Muse.MuseClient(channel);
        await client.ListModelsAsync(new ListModelsRequest());

        var (exit, _, stderr) = await MuseCli.RunAsync("keys", "revoke", "leaver", "--file", fixture.KeysFile);
        var ex = await Assert.ThrowsAsync<RpcException>(() => client.ListModelsAsync(new ListModelsRequest()).ResponseAsync);

        Assert.True(exit == 0, stderr);
        Assert.Equal(StatusCode.Unauthenticated, ex.StatusCode);
        Assert.Contains("revoked", ex.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task OverThePerMinuteLimit_IsResourceExhaustedWithRetryAfter_OthersStillServed()
    {
        using var limited = fixture.Channel("two-per-minute");
        using var other = fixture.Channel("alice");
        var client = new Protos.V1.Muse.MuseClient(limited);
        await client.ListModelsAsync(new ListModelsRequest());
        await client.ListModelsAsync(new ListModelsRequest());

        var ex = await Assert.ThrowsAsync<RpcException>(() => client.ListModelsAsync(new ListModelsRequest()).ResponseAsync);
        var served = await new Protos.V1.Muse.MuseClient(other).ListModelsAsync(new ListModelsRequest());

        Assert.Equal(StatusCode.ResourceExhausted, ex.StatusCode);
        Assert.Contains("2 requests per minute", ex.Status.Detail, StringComparison.Ordinal);
        Assert.InRange(int.Parse(ex.Trailers.GetValue("retry-after")!, CultureInfo.InvariantCulture), 1, 60);
        Assert.NotEmpty(served.Pipelines);
    }

    [Fact]
    public async Task OverTheConcurrencyLimit_IsResourceExhaustedWithRetryAfter()
    {
        using var limited = fixture.Channel("one-at-a-time");
        var client = new Protos.V1.Muse.MuseClient(limited);
        using var bound = new CancellationTokenSource(Bound);
        var running = Small(2);
        running.Decoding = new DecodingOptions { BaseSteps = 64, SrSteps = 64 };
        using (var first = client.Generate(running, cancellationToken: bound.Token))
        {
            Assert.True(await first.ResponseStream.MoveNext(bound.Token));
            Assert.NotNull(first.ResponseStream.Current.Accepted);

            var ex = await Assert.ThrowsAsync<RpcException>(() => client.ListModelsAsync(new ListModelsRequest()).ResponseAsync);

            Assert.Equal(StatusCode.ResourceExhausted, ex.StatusCode);
            Assert.Contains("1 concurrent requests", ex.Status.Detail, StringComparison.Ordinal);
            Assert.NotNull(ex.Trailers.GetValue("retry-after"));
        }

        // Disposing the call cancelled it: the key's slot comes back.
        await WaitUntilServedAsync(client, bound.Token);
    }

    [Fact]
    public async Task Plaintext_ToTheTlsPort_IsRefused()
    {
        var plaintext = new UriBuilder(fixture.Cluster.OrchestratorUrl) { Scheme = Uri.UriSchemeHttp }.Uri;
        using var channel = MuseChannels.Create(plaintext, bearer: fixture.Keys["alice"]);
        using var bound = new CancellationTokenSource(Bound);

        var ex = await Assert.ThrowsAsync<RpcException>(() =>
            new Protos.V1.Muse.MuseClient(channel).ListModelsAsync(new ListModelsRequest(), cancellationToken: bound.Token).ResponseAsync);

        Assert.NotEqual(StatusCode.OK, ex.StatusCode);
        Assert.False(bound.IsCancellationRequested, "The plaintext call hung instead of failing.");
    }

    [Fact]
    public async Task DirectStageCall_WithoutTheClusterCredential_IsUnauthenticated()
    {
        var stage = fixture.Cluster.Replicas(Repository.Stages.TextEncoder)[0].Url;
        using var anonymous = MuseChannels.Create(stage);
        using var withKey = MuseChannels.Create(stage, bearer: fixture.Keys["alice"]);
        using var cluster = MuseChannels.Create(stage, bearer: fixture.Cluster.InternalToken);
        var request = new EncodeRequest { Texts = { "a red circle" } };

        var noCredential = await Assert.ThrowsAsync<RpcException>(() => new TextEncoder.TextEncoderClient(anonymous).EncodeAsync(request).ResponseAsync);
        var apiKey = await Assert.ThrowsAsync<RpcException>(() => new TextEncoder.TextEncoderClient(withKey).EncodeAsync(request).ResponseAsync);
        var reply = await new TextEncoder.TextEncoderClient(cluster).EncodeAsync(request);

        Assert.Equal(StatusCode.Unauthenticated, noCredential.StatusCode);
        Assert.Equal(StatusCode.Unauthenticated, apiKey.StatusCode);
        Assert.NotEmpty(reply.Embeddings.Data);
    }

    [Fact]
    public async Task HugePipelineName_ErrorIsBounded_AndTheConnectionKeepsServing()
    {
        using var channel = fixture.Channel("alice");
        var client = new Protos.V1.Muse.MuseClient(channel);
        using var bound = new CancellationTokenSource(Bound);
        var request = Small(3);
        request.Pipeline = new string('p', 64 * 1024);

        var ex = await Assert.ThrowsAsync<RpcException>(() => GenerateAsync(client, request, bound.Token));
        var models = await client.ListModelsAsync(new ListModelsRequest(), cancellationToken: bound.Token);

        Assert.Equal(StatusCode.InvalidArgument, ex.StatusCode);
        Assert.InRange(ex.Status.Detail.Length, 1, 1024);
        Assert.Contains("(65536 characters)", ex.Status.Detail, StringComparison.Ordinal);
        Assert.NotEmpty(models.Pipelines);
    }

    [Fact]
    public async Task InvalidUtf8Prompt_IsInvalidArgument()
    {
        using var channel = fixture.Channel("alice");
        var bytes = Marshallers.Create<byte[]>(b => b, b => b);
        var generate = new Method<byte[], byte[]>(MethodType.ServerStreaming, "muse.v1.Muse", "Generate", bytes, bytes);
        using var bound = new CancellationTokenSource(Bound);
        // prompt (field 1) = C3 28: not UTF-8.
        using var call = channel.CreateCallInvoker().AsyncServerStreamingCall(generate, null, new CallOptions(cancellationToken: bound.Token), [0x0A, 0x02, 0xC3, 0x28]);

        var ex = await Assert.ThrowsAsync<RpcException>(() => call.ResponseStream.MoveNext(bound.Token));

        Assert.Equal(StatusCode.InvalidArgument, ex.StatusCode);
        Assert.Contains("UTF-8", ex.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task OversizedRequest_IsResourceExhausted()
    {
        using var channel = fixture.Channel("alice");
        var request = Small(4);
        request.Prompt = new string('a', 17 * 1024 * 1024);
        using var bound = new CancellationTokenSource(Bound);

        var ex = await Assert.ThrowsAsync<RpcException>(() => GenerateAsync(new Protos.V1.Muse.MuseClient(channel), request, bound.Token));

        Assert.Equal(StatusCode.ResourceExhausted, ex.StatusCode);
    }

    [Fact]
    public async Task ClientThatNeverReads_IsCancelled_AndItsSlotServesTheNextRequest()
    {
        using var stalled = fixture.Channel("alice");
        using var other = fixture.Channel("alice");
        using var bound = new CancellationTokenSource(Bound);
        var large = Small(5);
        large.NumImages = 16;   // 16 images of noise-like pixels: far beyond the client's 64 KiB stream window
        var started = Stopwatch.GetTimestamp();

        // Never read: HTTP/2 flow control holds the orchestrator's writes once the window is full.
        using var neverRead = new Protos.V1.Muse.MuseClient(stalled).Generate(large, cancellationToken: bound.Token);
        var line = await ClusterFixture.OutputLineAsync(
            fixture.Cluster.Orchestrator, l => l.Contains("took no event", StringComparison.Ordinal), "client-read timeout", Bound);
        // One slot only: this runs only because the stalled request gave its slot back.
        var result = await GenerateAsync(new Protos.V1.Muse.MuseClient(other), Small(6), bound.Token);

        Assert.Contains("cancelled", line, StringComparison.Ordinal);
        Assert.NotEmpty(result.Image);
        Assert.True(Stopwatch.GetElapsedTime(started) < Bound);
    }

    [Fact]
    public async Task AbandonedCalls_FreeTheirSlotQueuePlaceAndReplicaWorkAtOnce()
    {
        var replica = fixture.Cluster.Replicas(Repository.Stages.Base)[0];
        var cancelledBefore = replica.RecentOutput.Where(IsCancelledLine).ToHashSet(StringComparer.Ordinal);
        using var bound = new CancellationTokenSource(Bound);
        using var next = fixture.Channel("alice");
        var running = fixture.Channel("alice");
        var waiting = fixture.Channel("alice");
        var slow = Small(7);
        slow.Decoding = new DecodingOptions { BaseSteps = 64, SrSteps = 64 };
        slow.NumImages = 4;

        // One slot: the slow request runs, the second waits first in line, the third behind it.
        using var first = new Protos.V1.Muse.MuseClient(running).Generate(slow, cancellationToken: bound.Token);
        await ReadUntilAsync(first, e => e.Progress is not null, bound.Token);
        using var second = new Protos.V1.Muse.MuseClient(waiting).Generate(Small(8), cancellationToken: bound.Token);
        await ReadUntilAsync(second, e => e.Queued is { Position: 1 }, bound.Token);
        using var third = new Protos.V1.Muse.MuseClient(next).Generate(Small(9), cancellationToken: bound.Token);
        await ReadUntilAsync(third, e => e.Queued is { Position: 2 }, bound.Token);

        // Both clients go away without ending their calls (disposing a channel closes its connection): the one in
        // line first, so the third moves up to first in line, then the running one, so the third runs.
        var abandoned = Stopwatch.GetTimestamp();
        waiting.Dispose();
        var events = new List<GenerateEvent>();
        while (await third.ResponseStream.MoveNext(bound.Token))
        {
            events.Add(third.ResponseStream.Current);
            if (third.ResponseStream.Current.Queued is { Position: 1 })
            {
                break;
            }
        }

        running.Dispose();
        await foreach (var e in third.ResponseStream.ReadAllAsync(bound.Token))
        {
            events.Add(e);
        }

        var served = Stopwatch.GetElapsedTime(abandoned);
        var cancelled = await ClusterFixture.OutputLineAsync(
            replica, l => IsCancelledLine(l) && !cancelledBefore.Contains(l), "'stream cancelled' line", Bound);
        // The third request's slot is released before its stream ends, and nothing else holds one.
        var gauges = await fixture.AdmissionGaugesAsync(bound.Token);

        // The third request moved up to first in line and then ran: both places ahead of it were given back.
        Assert.Contains(events, e => e.Queued is { Position: 1 });
        Assert.NotEmpty(events[^1].Result.Image);
        Assert.DoesNotContain("after 64 step", cancelled, StringComparison.Ordinal);
        Assert.Equal((0, 0), gauges);
        // Reported, not asserted: seconds from the abandonment to the third request's image.
        output.WriteLine($"abandoned calls: third request served {served.TotalSeconds:0.0} s after the abandonment");
    }

    private static bool IsCancelledLine(string line) => line.Contains("was cancelled by the client after", StringComparison.Ordinal);

    private static async Task ReadUntilAsync(AsyncServerStreamingCall<GenerateEvent> call, Func<GenerateEvent, bool> match, CancellationToken ct)
    {
        while (await call.ResponseStream.MoveNext(ct))
        {
            if (match(call.ResponseStream.Current))
            {
                return;
            }
        }

        throw new InvalidOperationException("The stream ended before the awaited event.");
    }

    private static async Task<Result> GenerateAsync(Protos.V1.Muse.MuseClient client, GenerateRequest request, CancellationToken ct)
    {
        using var call = client.Generate(request, cancellationToken: ct);
        Result? result = null;
        await foreach (var e in call.ResponseStream.ReadAllAsync(ct))
        {
            result = e.Result ?? result;
        }

        return result ?? throw new InvalidOperationException("No result.");
    }

    private static async Task WaitUntilServedAsync(Protos.V1.Muse.MuseClient client, CancellationToken ct)
    {
        while (true)
        {
            try
            {
                await client.ListModelsAsync(new ListModelsRequest(), cancellationToken: ct);
                return;
            }
            catch (RpcException ex) when (ex.StatusCode == StatusCode.ResourceExhausted)
            {
                // The cancel reaches the server asynchronously; the next call is the event that shows it did.
                await Task.Yield();
            }
        }
    }
}
