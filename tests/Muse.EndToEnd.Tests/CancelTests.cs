using System.Globalization;
using System.Text.RegularExpressions;
using Grpc.Core;
using Muse.Cluster;
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
        var cancelledBefore = CancelledStreams(replica).Select(c => c.Line).ToHashSet(StringComparer.Ordinal);
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
        var cancelled = await EventuallyAsync(() => Task.FromResult(CancelledStreams(replica)
            .Where(c => !cancelledBefore.Contains(c.Line) && c.Steps >= CancelAtStep).Select(c => (int?)c.Steps).FirstOrDefault()));
        Assert.True(
            cancelled is not null and < 64,
            $"The base replica logged no stream cancelled after {CancelAtStep} to 63 steps:\n" + string.Join('\n', replica.RecentOutput));

        // Every transformer replica goes idle: CPU time stops growing (bounded wait, no speed assertion).
        var transformers = fixture.Cluster.Replicas("base").Concat(fixture.Cluster.Replicas("sr")).ToList();
        var lastGrowth = new List<long>();
        var idle = await EventuallyAsync(async () =>
        {
            var before = transformers.Select(p => CpuTicks(p.ProcessId)).ToList();
            await Task.Delay(TimeSpan.FromSeconds(1));
            var grown = transformers.Select((p, i) => CpuTicks(p.ProcessId) - before[i]).ToList();
            lastGrowth = grown;
            // A decoding replica burns most of a second per second; an idle one a few ticks (GC, timers) at most.
            return grown.All(g => g <= 15) ? grown : null;
        });
        Assert.True(idle is not null, $"A transformer replica kept using CPU after the cancel: last second's ticks {string.Join(", ", lastGrowth)}.");

        using var bound = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        var next = await fixture.GenerateAsync(GenerateTests.Request(seed: 3, baseSteps: 2, srSteps: 2), ct: bound.Token);
        Assert.NotNull(next[^1].Result);
        // Served at once: it waited for no slot.
        Assert.DoesNotContain(next, e => e.Queued is not null);
    }

    // "Decode stream … was cancelled by the client after N step(s)" lines (time-stamped, so each is unique) and their N.
    private static List<(string Line, int Steps)> CancelledStreams(ClusterProcess replica) =>
        [.. replica.RecentOutput.Select(line => (Line: line, Match: CancelledLine().Match(line))).Where(m => m.Match.Success)
            .Select(m => (m.Line, int.Parse(m.Match.Groups[1].Value, CultureInfo.InvariantCulture)))];

    // utime + stime of a process, in clock ticks (/proc/<pid>/stat fields 14 and 15, after the command name).
    private static long CpuTicks(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
    }

    // Polls for up to 15 s until probe gives a value.
    private static async Task<T?> EventuallyAsync<T>(Func<Task<T?>> probe)
    {
        for (var attempt = 0; attempt < 15; attempt++)
        {
            if (await probe() is { } value)
            {
                return value;
            }

            await Task.Delay(TimeSpan.FromSeconds(1));
        }

        return default;
    }

    [GeneratedRegex(@"was cancelled by the client after (\d+) step")]
    private static partial Regex CancelledLine();
}
