using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Muse.Orchestrator.Replicas;
using Polly.Registry;

namespace Muse.Orchestrator.Tests;

public sealed class StageClientsTests : IDisposable
{
    private const string Model = "muse-tiny-sr/1";

    // Guards against a hang only; time itself is the FakeTimeProvider's.
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    private readonly FakeTimeProvider _time = new();
    private readonly FakeResolver _resolver = new();
    private readonly FakeProbe _probe = new();
    private readonly RecordingLogger<StageClients> _logger = new();
    private readonly StageResilienceOptions _resilience = new();
    private readonly TestOptionsMonitor<OrchestratorOptions> _options = new(Stages("http://10.0.0.1:5001", "http://10.0.0.2:5001"));
    private StageClients? _sut;

    [Fact]
    public void Constructor_Urls_OneReplicaPerUrlAtOnce()
    {
        var sut = CreateSut();

        Assert.Equal(["http://10.0.0.1:5001", "http://10.0.0.2:5001"], sut.Replicas("sr").Select(r => r.Endpoint));
    }

    [Fact]
    public async Task MarkDown_ProbeFailsThenSucceeds_UpAfterBackoff()
    {
        using var bound = new CancellationTokenSource(Bound);
        var sut = CreateSut();
        var replica = sut.Replicas("sr")[0];

        sut.MarkDown(replica, "test");
        Assert.True(replica.IsDown);

        // First probe after ProbeDelay: still refused.
        _time.Advance(_resilience.ProbeDelay);
        Assert.Equal(replica.Endpoint, await _probe.NextProbeAsync(bound.Token));
        await _logger.NextAsync(22, bound.Token);
        Assert.True(replica.IsDown);

        // The replica restarts; the next probe, after a doubled delay, takes it back.
        _probe.Serve(replica.Endpoint, Model);
        _time.Advance(_resilience.ProbeDelay * 2);
        Assert.Equal(replica.Endpoint, await _probe.NextProbeAsync(bound.Token));
        await _logger.NextAsync(21, bound.Token);

        Assert.False(replica.IsDown);
        Assert.Equal([Model], replica.Models!);
    }

    [Fact]
    public async Task MarkDown_DownForLong_ProbesAtMostMaxProbeDelayApart()
    {
        using var bound = new CancellationTokenSource(Bound);
        var sut = CreateSut();
        var replica = sut.Replicas("sr")[1];
        sut.MarkDown(replica, "test");
        var delay = _resilience.ProbeDelay;
        for (var i = 0; i < 6; i++)
        {
            _time.Advance(delay);
            await _probe.NextProbeAsync(bound.Token);
            await _logger.NextAsync(22, bound.Token);
            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, _resilience.MaxProbeDelay.Ticks));
        }

        _probe.Serve(replica.Endpoint, Model);
        _time.Advance(_resilience.MaxProbeDelay);
        await _logger.NextAsync(21, bound.Token);

        Assert.False(replica.IsDown);
    }

    [Fact]
    public async Task MarkDown_AlreadyDown_NoSecondProbeLoop()
    {
        using var bound = new CancellationTokenSource(Bound);
        var sut = CreateSut();
        var replica = sut.Replicas("sr")[0];

        sut.MarkDown(replica, "first");
        sut.MarkDown(replica, "second");
        _time.Advance(_resilience.ProbeDelay);
        await _probe.NextProbeAsync(bound.Token);
        await _logger.NextAsync(22, bound.Token);

        Assert.False(_probe.HasUnreadProbe);
    }

    [Fact]
    public async Task Refresh_DnsNameWithTwoAddresses_TwoReplicasAndTheSecondGetsWork()
    {
        _resolver.Answer("sr.muse.svc", "127.0.0.1", "127.0.0.2");
        _options.Set(Stages("dns:///sr.muse.svc:5001"));
        var sut = CreateSut();
        await sut.RefreshEndpointsAsync(CancellationToken.None);
        var replicas = sut.Replicas("sr");
        foreach (var replica in replicas)
        {
            replica.MarkUp(new HashSet<string>([Model]));
        }

        var first = ReplicaPicker.Pick(replicas, Model, new HashSet<string>(), 0)!;
        using var busy = first.Acquire();
        var second = ReplicaPicker.Pick(replicas, Model, new HashSet<string>(), 0)!;

        Assert.Equal(["http://127.0.0.1:5001", "http://127.0.0.2:5001"], replicas.Select(r => r.Endpoint));
        Assert.NotSame(first, second);
    }

    [Fact]
    public void Refresh_EveryResolveInterval_NewAddressAddedGoneAddressRetired()
    {
        _resolver.Answer("sr.muse.svc", "10.1.0.1", "10.1.0.2");
        _options.Set(Stages("dns:///sr.muse.svc:5001"));
        var sut = CreateSut();
        _time.Advance(_resilience.ResolveInterval);
        var before = sut.Replicas("sr");
        using var work = before[0].Acquire();

        // A pod is replaced: 10.1.0.1 goes, 10.1.0.3 comes.
        _resolver.Answer("sr.muse.svc", "10.1.0.2", "10.1.0.3");
        _time.Advance(_resilience.ResolveInterval);
        var after = sut.Replicas("sr");

        Assert.Equal(["http://10.1.0.1:5001", "http://10.1.0.2:5001"], before.Select(r => r.Endpoint));
        Assert.Equal(["http://10.1.0.2:5001", "http://10.1.0.3:5001"], after.Select(r => r.Endpoint));
        Assert.Same(before[1], after[0]);
        Assert.True(before[0].IsRetired);
    }

    [Fact]
    public void Refresh_NameStopsResolving_KeepsLastAddresses()
    {
        _resolver.Answer("sr.muse.svc", "10.1.0.1", "10.1.0.2");
        _options.Set(Stages("dns:///sr.muse.svc:5001"));
        var sut = CreateSut();
        _time.Advance(_resilience.ResolveInterval);

        _resolver.Fail("sr.muse.svc");
        _time.Advance(_resilience.ResolveInterval);

        Assert.Equal(["http://10.1.0.1:5001", "http://10.1.0.2:5001"], sut.Replicas("sr").Select(r => r.Endpoint));
    }

    [Fact]
    public void ConfigurationChange_EndpointListReloaded_ReplicasFollowAndKeepState()
    {
        var sut = CreateSut();
        var kept = sut.Replicas("sr")[1];
        sut.MarkDown(kept, "test");

        _options.Set(Stages("http://10.0.0.2:5001", "http://10.0.0.3:5001"));

        Assert.Equal(["http://10.0.0.2:5001", "http://10.0.0.3:5001"], sut.Replicas("sr").Select(r => r.Endpoint));
        Assert.Same(kept, sut.Replicas("sr")[0]);
        Assert.True(kept.IsDown);
    }

    public void Dispose() => _sut?.Dispose();

    private static OrchestratorOptions Stages(params string[] srEndpoints) => new()
    {
        Stages = { ["sr"] = new StageEndpoints { Endpoints = [.. srEndpoints] } },
    };

    private StageClients CreateSut()
    {
        var pipelines = new ResiliencePipelineRegistry<string>();
        pipelines.TryAddBuilder(StagePipelines.Unary, (_, _) => { });
        _sut = new StageClients(_options, Options.Create(_resilience), pipelines, _resolver, _probe, _time, _logger);
        return _sut;
    }
}
