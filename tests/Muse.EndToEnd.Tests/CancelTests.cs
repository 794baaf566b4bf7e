using System.Globalization;
using System.Text.RegularExpressions;
using Grpc.Core;
using Muse.Protos.V1;

namespace Muse.EndToEnd.Tests;

/// <summary>A cancelled call stops the work on it everywhere, within a step, and frees the cluster at once.</summary>
[Collection(SharedCluster.Name)]
public sealed partial class CancelTests(ClusterFixture fixture)
{
    private const int CancelAtStep = 5;

    [Fact]
    public async Task Generate_CancelledMidDecode_ReplicasStopAndGoIdleAndTheNextRequestIsServed()
    {
        var replica = fixture.Cluster.Replicas("base").Single();
        var cancelledBefore = replica.RecentOutput.Where(line => CancelledSteps(line) is not null).ToHashSet(StringComparer.Ordinal);
        using var cts = new CancellationTokenSource();
        // Eight images make every step slow enough that the request cannot finish while the cancel travels.
        var request = GenerateTests.Request(seed: 3, baseSteps: 64, srSteps: 64);
        request.NumImages = 8;
        using var call = fixture.Client.Generate(request, cancellationToken: cts.Token);

        var error = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            await foreach (var e in call.ResponseStream.ReadAllAsync())
            {
                if (e.Progress?.Step == CancelAtStep)
                {
                    await cts.CancelAsync();
                }
            }
        });
        Assert.Equal(StatusCode.Cancelled, error.StatusCode);

        // The replica saw its stream cancelled, long before the 64 steps it was asked for. (The client reads progress
        // behind the server, so the exact step is not known here. Other tests cancel at step 2 and their lines may
        // arrive late: only counts from this test's step on count.)
        var cancelled = await ClusterFixture.OutputLineAsync(
            replica,
            line => !cancelledBefore.Contains(line) && CancelledSteps(line) >= CancelAtStep,
            $"'stream cancelled' line after {CancelAtStep} or more steps",
            TimeSpan.FromSeconds(15));
        Assert.True(CancelledSteps(cancelled) < 64, $"The base replica's stream ran to the end before the cancel: {cancelled}");

        // Every transformer replica goes idle: CPU time stops growing. Real time: idleness is CPU time that does not
        // grow over a wall-clock second, which nothing in a replica signals; at most 15 one-second windows.
        var transformers = fixture.Cluster.Replicas("base").Concat(fixture.Cluster.Replicas("sr")).ToList();
        List<long> grown = [];
        for (var window = 0; window < 15; window++)
        {
            var before = transformers.Select(p => CpuTicks(p.ProcessId)).ToList();
#pragma warning disable RS0030 // A measuring window on the wall clock, see above.
            await Task.Delay(TimeSpan.FromSeconds(1));
#pragma warning restore RS0030
            grown = [.. transformers.Select((p, i) => CpuTicks(p.ProcessId) - before[i])];
            // A decoding replica burns most of a second per second; an idle one a few ticks (GC, timers) at most.
            if (grown.All(g => g <= 15))
            {
                break;
            }
        }

        Assert.True(grown.All(g => g <= 15), $"A transformer replica kept using CPU after the cancel: last second's ticks {string.Join(", ", grown)}.");

        using var bound = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        var next = await fixture.GenerateAsync(GenerateTests.Request(seed: 3, baseSteps: 2, srSteps: 2), ct: bound.Token);
        Assert.NotNull(next[^1].Result);
        // Served at once: it waited for no slot.
        Assert.DoesNotContain(next, e => e.Queued is not null);
    }

    // N of a "Decode stream … was cancelled by the client after N step(s)" line (time-stamped, so each is unique).
    private static int? CancelledSteps(string line) =>
        CancelledLine().Match(line) is { Success: true } match ? int.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture) : null;

    // utime + stime of a process, in clock ticks (/proc/<pid>/stat fields 14 and 15, after the command name).
    private static long CpuTicks(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
    }

    [GeneratedRegex(@"was cancelled by the client after (\d+) step")]
    private static partial Regex CancelledLine();
}
