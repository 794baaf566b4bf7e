using System.Diagnostics;
using System.Globalization;
using Grpc.Core;
using Muse.Client;
using Muse.Protos.V1;
using Xunit.Abstractions;

namespace Muse.EndToEnd.Tests;

/// <summary>
/// The bounded abuse test: for a fixed time, clients of two keys go over their limits (a per-minute one and a
/// one-at-a-time one, each hammered by eight clients that ignore retry-after), while clients of two other keys stay
/// within theirs, on the secure cluster (TLS, keys, one request decoding at a time). Nothing is lost, the allowed
/// clients are served, the abusers are shed, and the orchestrator is back to idle with its memory within a generous
/// bound. Latency and shed counts are reported, not asserted.
/// </summary>
[Collection(SecureCluster.Name)]
public sealed class AbuseTests(SecureClusterFixture fixture, ITestOutputHelper output)
{
    private const int AbusersPerKey = 8;

    // RSS grows with the GC heap and caches, then stays; per-call state leaked over thousands of calls would not fit.
    private const long RssGrowthBoundKiB = 256 * 1024;

    private static readonly TimeSpan RunFor = TimeSpan.FromSeconds(12);

    // A hang guard for the whole test, not a speed assertion.
    private static readonly TimeSpan Bound = TimeSpan.FromMinutes(2);

    private static readonly DecodingOptions Decoding = new() { BaseSteps = 2, SrSteps = 2 };

    [Fact]
    public async Task ClientsOverTheirLimits_AreShed_AllowedClientsServed_NothingLostOrLeaked()
    {
        using var bound = new CancellationTokenSource(Bound);
        using var perMinute = fixture.Channel("abuse-per-minute");
        using var oneAtATime = fixture.Channel("abuse-one-at-a-time");
        using var steadyA = fixture.Channel("steady-a");
        using var steadyB = fixture.Channel("steady-b");
        // Two clients per allowed key, each sending its next request when the last one ended: within 4 at once.
        var plan = new LoadPlan(2, int.MaxValue, [GenerateTests.Prompt], FirstSeed: 9000, Decoding: Decoding, Attempts: 1, Duration: RunFor);
        var warmUp = await LoadRun.RunAsync(new Protos.V1.Muse.MuseClient(steadyA), plan with { Clients = 1, Requests = 1 }, TimeProvider.System, bound.Token);
        var pid = fixture.Cluster.Orchestrator.ProcessId;
        var rssBefore = RssKiB(pid);

        var abusers = Enumerable.Range(0, AbusersPerKey).SelectMany(i => new[]
        {
            HammerAsync(new Protos.V1.Muse.MuseClient(perMinute), 9100 + (ulong)i, bound.Token),
            HammerAsync(new Protos.V1.Muse.MuseClient(oneAtATime), 9200 + (ulong)i, bound.Token),
        }).ToList();
        var steady = new[]
        {
            LoadRun.RunAsync(new Protos.V1.Muse.MuseClient(steadyA), plan, TimeProvider.System, bound.Token),
            LoadRun.RunAsync(new Protos.V1.Muse.MuseClient(steadyB), plan with { FirstSeed = 9500 }, TimeProvider.System, bound.Token),
        };
        var abused = (await Task.WhenAll(abusers)).SelectMany(s => s).ToList();
        var reports = await Task.WhenAll(steady);
        var idleAfter = await fixture.WaitUntilIdleAsync(TimeSpan.FromSeconds(10), bound.Token);
        var rssAfter = RssKiB(pid);

        var allowed = new LoadReport(plan with { Clients = 4 }, [.. reports.SelectMany(r => r.Outcomes)], reports.Max(r => r.WallSeconds));
        var shed = abused.Count(s => s == StatusCode.ResourceExhausted);
        output.WriteLine(
            $"{RunFor.TotalSeconds:0} s, {abusers.Count} abusing + {allowed.Plan.Clients} allowed clients, load average {File.ReadAllText("/proc/loadavg").Trim()}: "
            + $"allowed {allowed.Succeeded} served, p50 {allowed.LatencyQuantile(0.5):0} ms, p95 {allowed.LatencyQuantile(0.95):0} ms; "
            + $"abusers {abused.Count} calls, {shed} shed (RESOURCE_EXHAUSTED), {abused.Count(s => s == StatusCode.OK)} served; "
            + $"idle {idleAfter.TotalMilliseconds:0} ms after the last call; orchestrator RSS {rssBefore / 1024} → {rssAfter / 1024} MiB");
        Assert.Equal(0, warmUp.Failed);
        Assert.NotEqual(0, allowed.Succeeded);
        Assert.Empty(allowed.FailuresByStatus);
        Assert.All(abused, s => Assert.True(s is StatusCode.OK or StatusCode.ResourceExhausted, $"An abusing call ended {s}."));
        Assert.InRange(shed, 1, abused.Count);
        Assert.Contains(StatusCode.OK, abused);   // within its limits an abusing key is still served
        Assert.InRange(rssAfter - rssBefore, long.MinValue, RssGrowthBoundKiB);
    }

    // One abusing client: Generate again and again until the run ends, whatever the answer; the final status of each call.
    private static async Task<List<StatusCode>> HammerAsync(Protos.V1.Muse.MuseClient client, ulong seed, CancellationToken ct)
    {
        var statuses = new List<StatusCode>();
        var started = Stopwatch.GetTimestamp();
        while (Stopwatch.GetElapsedTime(started) < RunFor)
        {
            try
            {
                using var call = client.Generate(new GenerateRequest { Prompt = GenerateTests.Prompt, Seed = seed, Decoding = Decoding }, cancellationToken: ct);
                await foreach (var _ in call.ResponseStream.ReadAllAsync(ct))
                {
                }

                statuses.Add(StatusCode.OK);
            }
            catch (RpcException ex) when (!ct.IsCancellationRequested)
            {
                statuses.Add(ex.StatusCode);
            }

            // Retry-after ignored; 50 ms apart so sixteen abusers load the two cores of the test machine, not saturate them.
#pragma warning disable RS0030 // The abuser's pace is real time by design.
            await Task.Delay(TimeSpan.FromMilliseconds(50), ct);
#pragma warning restore RS0030
        }

        return statuses;
    }

    // Resident set of a process in KiB (/proc/<pid>/status, "VmRSS:  123456 kB").
    private static long RssKiB(int pid) =>
        long.Parse(
            File.ReadLines($"/proc/{pid}/status").Single(l => l.StartsWith("VmRSS:", StringComparison.Ordinal))["VmRSS:".Length..].Trim().Split(' ')[0],
            CultureInfo.InvariantCulture);
}
