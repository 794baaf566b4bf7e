using System.Diagnostics;
using System.Globalization;
using Grpc.Core;
using Grpc.Net.Client;
using Muse.Cluster;
using Muse.Protos.V1;
using Muse.Testing;

namespace Muse.EndToEnd.Tests;

/// <summary>
/// A cluster run as `muse up --tls-cert --tls-key --api-keys` would run it (stages behind the per-run cluster
/// credential), one request at a time and a 2 s client read timeout; keys made by the real `muse keys` command.
/// </summary>
public sealed class SecureClusterFixture : IAsyncLifetime
{
    private LocalCluster? _cluster;

    public TestCertificates Certificates { get; } = new();

    public string KeysFile => Path.Combine(Certificates.Folder, "keys.json");

    public LocalCluster Cluster => _cluster ?? throw new InvalidOperationException("Not started.");

    public Dictionary<string, string> Keys { get; } = [];

    public async Task InitializeAsync()
    {
        await CreateKeyAsync("alice");
        await CreateKeyAsync("two-per-minute", "--requests-per-minute", "2");
        await CreateKeyAsync("one-at-a-time", "--max-concurrent", "1");
        await CreateKeyAsync("leaver");
        var options = new LocalClusterOptions
        {
            TlsCertificateFile = Certificates.CertificateFile,
            TlsKeyFile = Certificates.KeyFile,
            ApiKeysFile = KeysFile,
        };
        options.StageArguments.Add("--Muse:Inference:IntraOpThreads=1");
        options.OrchestratorArguments.Add("--Muse:Queue:MaxConcurrent=1");
        options.OrchestratorArguments.Add("--Muse:Queue:ClientReadTimeout=00:00:02");
        _cluster = await LocalCluster.StartAsync(options);
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

    public async Task CreateKeyAsync(string name, params string[] limits)
    {
        var (exit, stdout, stderr) = await MuseCli.RunAsync(["keys", "create", name, "--file", KeysFile, .. limits]);
        Assert.True(exit == 0, stderr);
        Keys[name] = stdout.Trim().Split('\n')[^1].Trim();
    }
}

public sealed class SecurityTests(SecureClusterFixture fixture) : IClassFixture<SecureClusterFixture>
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
        Assert.All(fixture.Keys.Values, key => Assert.DoesNotContain(key.Split('_')[^1], file, StringComparison.Ordinal));
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
