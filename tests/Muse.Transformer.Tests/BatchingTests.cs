using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using Muse.Decoding;
using Muse.Protos.V1;
using Muse.Repository;
using Muse.Testing;
using GuidanceSchedule = Muse.Decoding.GuidanceSchedule;

namespace Muse.Transformer.Tests;

/// <summary>
/// Step-level batching on a real replica: concurrent full decodes (each its own Decode stream, driven by
/// <see cref="ParallelDecoder"/> as the orchestrator drives them) against the same decodes run one at a time on a
/// replica with batching off.
/// </summary>
[Collection(BatchingReplicas.Name)]
public sealed class BatchingTests(BatchingHosts hosts)
{
    /// <summary>Six decodes that differ in model, seeds, text, steps, guidance and temperature.</summary>
    private static readonly DecodeCase[] MixedCases =
    [
        new(TransformerHosts.BaseModel, [1, 2], Steps: 8, GuidanceScale: 3f, SamplingTemperature: 1f),
        new(TransformerHosts.BaseModel, [3], Steps: 5, GuidanceScale: 1f, SamplingTemperature: 0.5f, TextSeed: 12),
        new(TransformerHosts.BaseModel, [4, 5, 6], Steps: 8, GuidanceScale: 2f, SamplingTemperature: 1f, Schedule: GuidanceSchedule.Linear),
        new(TransformerHosts.BaseModel, [10], Steps: 6, GuidanceScale: 0f, SamplingTemperature: 0f, TextSeed: 13),
        new(TransformerHosts.SuperResolutionModel, [7], Steps: 6, GuidanceScale: 3f, SamplingTemperature: 0.2f),
        new(TransformerHosts.SuperResolutionModel, [8, 9], Steps: 4, GuidanceScale: 1f, SamplingTemperature: 1f, TextSeed: 14),
    ];

    [Fact]
    public async Task Decode_ConcurrentStreams_YieldBitIdenticalRepliesToEachStreamAlone()
    {
        var expiredWaits = hosts.Scheduler.ExpiredWaits;
        var expected = await RunAloneAsync(MixedCases);
        var streams = new ConcurrentQueue<int>();
        using var listener = Listen(hosts.Batching.Services.GetRequiredService<IMeterFactory>(), new ConcurrentQueue<int>(), streams);

        var actual = await RunTogetherAsync(MixedCases);

        Assert.Contains(streams, s => s > 1);   // the replies below did come from shared runs
        for (var i = 0; i < MixedCases.Length; i++)
        {
            Assert.Equal(MixedCases[i].Steps, actual[i].Count);
            Assert.Equal(expected[i], actual[i]);   // protobuf equality: every byte of tokens and confidence
        }

        Assert.Equal(expiredWaits, hosts.Scheduler.ExpiredWaits);   // no stream was waited for in vain
    }

    [Fact]
    public async Task Decode_ConcurrentStreams_ShareGraphRuns()
    {
        DecodeCase[] cases = [.. Enumerable.Range(0, 4).Select(i => new DecodeCase(TransformerHosts.BaseModel, [(ulong)(20 + i)], Steps: 6, GuidanceScale: 3f, SamplingTemperature: 1f))];
        var rows = new ConcurrentQueue<int>();
        var streams = new ConcurrentQueue<int>();
        using var listener = Listen(hosts.Batching.Services.GetRequiredService<IMeterFactory>(), rows, streams);

        await RunTogetherAsync(cases);

        // One stream's step is 2 rows (one image, guided): more in a run means steps of several streams shared it.
        Assert.Contains(rows, r => r > 2);
        Assert.Contains(streams, s => s > 1);
        Assert.All(rows, r => Assert.InRange(r, 2, BatchingHosts.MaxRows));
    }

    [Fact]
    public async Task Decode_OneStreamCancelledMidRun_OthersInThatRunYieldTheirResults()
    {
        const ulong victimSeed = 999;
        DecodeCase[] others = [.. MixedCases.Where(c => c.Model == TransformerHosts.BaseModel)];
        var victim = new DecodeCase(TransformerHosts.BaseModel, [victimSeed], Steps: 8, GuidanceScale: 3f, SamplingTemperature: 1f);
        var expected = await RunAloneAsync(others);
        var expiredWaits = hosts.Scheduler.ExpiredWaits;
        using var victimCancellation = new CancellationTokenSource();
        var cancelledMidRun = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        hosts.Scheduler.RunStarting = run =>
        {
            var victimStep = run.FirstOrDefault(s => s.Rows.Session.Seeds.Contains(victimSeed));
            if (run.Count < 2 || victimStep.Result is null || cancelledMidRun.Task.IsCompleted)
            {
                return;
            }

            // Cancel the victim's call and hold the run until the replica has seen it: the run then goes on for the others.
            victimCancellation.Cancel();
            SpinWait.SpinUntil(() => victimStep.Result.IsCompleted, TimeSpan.FromSeconds(30));
            cancelledMidRun.TrySetResult(victimStep.Result.IsCanceled);
        };

        try
        {
            var start = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var victimRun = DecodeAsync(hosts.Batching, victim, start.Task, victimCancellation.Token);
            var otherRuns = others.Select(c => DecodeAsync(hosts.Batching, c, start.Task)).ToList();
            start.SetResult();

            var actual = await Task.WhenAll(otherRuns);

            Assert.True(await cancelledMidRun.Task, "The victim's step should be cancelled while its run was running.");
            var error = await Assert.ThrowsAnyAsync<Exception>(() => victimRun);
            Assert.True(
                error is OperationCanceledException || error is RpcException { StatusCode: StatusCode.Cancelled },
                $"The victim should end cancelled, not with {error}.");
            for (var i = 0; i < others.Length; i++)
            {
                Assert.Equal(expected[i], actual[i]);
            }

            Assert.Equal(expiredWaits, hosts.Scheduler.ExpiredWaits);
        }
        finally
        {
            hosts.Scheduler.RunStarting = null;
        }
    }

    [Fact]
    public async Task Decode_RunFails_FailsEveryStreamInItWithTheSameStatusAndKeepsServing()
    {
        DecodeCase[] cases = [.. Enumerable.Range(0, 3).Select(i => new DecodeCase(TransformerHosts.BaseModel, [(ulong)(30 + i)], Steps: 8, GuidanceScale: 3f, SamplingTemperature: 1f))];
        var failedStreams = 0;
        hosts.Scheduler.RunStarting = run =>
        {
            if (run.Count >= 2 && Interlocked.CompareExchange(ref failedStreams, run.Count, 0) == 0)
            {
                throw new InvalidOperationException("Simulated failure of a shared graph run.");
            }
        };

        List<Exception> errors;
        try
        {
            var start = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var runs = cases.Select(c => DecodeAsync(hosts.Batching, c, start.Task)).ToList();
            start.SetResult();
            errors = [];
            foreach (var run in runs)
            {
                try
                {
                    await run;
                }
                catch (RpcException ex)
                {
                    errors.Add(ex);
                }
            }
        }
        finally
        {
            hosts.Scheduler.RunStarting = null;
        }

        Assert.True(failedStreams >= 2, "A run of several streams should have failed.");
        Assert.Equal(failedStreams, errors.Count);
        Assert.All(errors, e => Assert.Equal(StatusCode.Internal, ((RpcException)e).StatusCode));
        var alone = new DecodeCase(TransformerHosts.BaseModel, [40], Steps: 2, GuidanceScale: 3f, SamplingTemperature: 1f);
        Assert.Equal((await RunAloneAsync([alone]))[0], await DecodeAsync(hosts.Batching, alone, Task.CompletedTask));
    }

    [Fact]
    public async Task Decode_LoneStream_NeverWaitsForTheWindow()
    {
        var lone = new DecodeCase(TransformerHosts.SuperResolutionModel, [50, 51], Steps: 8, GuidanceScale: 3f, SamplingTemperature: 1f);
        var expiredWaits = hosts.Scheduler.ExpiredWaits;
        var started = TimeProvider.System.GetTimestamp();

        var replies = await DecodeAsync(hosts.Batching, lone, Task.CompletedTask);

        // A step that waited would take the whole 10 s window; on a loaded CPU the 8 steps take a second or two.
        var elapsed = TimeProvider.System.GetElapsedTime(started);
        Assert.Equal(8, replies.Count);
        Assert.True(elapsed < TimeSpan.FromMilliseconds(BatchingHosts.MaxWaitMilliseconds), $"8 lone steps took {elapsed}.");
        Assert.Equal(expiredWaits, hosts.Scheduler.ExpiredWaits);
    }

    private static MeterListener Listen(IMeterFactory meters, ConcurrentQueue<int> rows, ConcurrentQueue<int> streams)
    {
        var listener = new MeterListener
        {
            InstrumentPublished = (instrument, listener) =>
            {
                // Only this host's scheduler: other hosts in the test process publish under the same meter name.
                if (ReferenceEquals(instrument.Meter.Scope, meters)
                    && instrument.Name is BatchingStepScheduler.RowsMetric or BatchingStepScheduler.StreamsMetric)
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            },
        };
        listener.SetMeasurementEventCallback<int>((instrument, value, _, _) =>
            (instrument.Name == BatchingStepScheduler.RowsMetric ? rows : streams).Enqueue(value));
        listener.Start();
        return listener;
    }

    /// <summary>Each decode alone, one after the other, on the replica with batching off.</summary>
    private async Task<List<DecodeReply>[]> RunAloneAsync(IReadOnlyList<DecodeCase> cases)
    {
        var replies = new List<DecodeReply>[cases.Count];
        for (var i = 0; i < cases.Count; i++)
        {
            replies[i] = await DecodeAsync(hosts.Immediate, cases[i], Task.CompletedTask);
        }

        return replies;
    }

    /// <summary>All decodes at once on the batching replica: every stream is open before any sends its first step.</summary>
    private async Task<List<DecodeReply>[]> RunTogetherAsync(IReadOnlyList<DecodeCase> cases)
    {
        var start = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var runs = cases.Select(c => DecodeAsync(hosts.Batching, c, start.Task)).ToList();
        start.SetResult();
        return await Task.WhenAll(runs);
    }

    /// <summary>One full decode on its own stream, opened at once and started when <paramref name="start"/> completes.</summary>
    private async Task<List<DecodeReply>> DecodeAsync(StageHost host, DecodeCase decode, Task start, CancellationToken ct = default)
    {
        var model = hosts.Models[decode.Model];
        var options = new DecodeOptions
        {
            Steps = decode.Steps,
            GuidanceScale = decode.GuidanceScale,
            GuidanceSchedule = decode.Schedule,
            SamplingTemperature = decode.SamplingTemperature,
        };
        var stage = model.Stage == Stages.SuperResolution ? DecodeStage.SuperResolution : DecodeStage.Base;
        var states = decode.Seeds.Select(_ => TokenState.AllMasked(model.GridHeight, model.GridWidth, model.MaskTokenId)).ToList();
        using var call = new TokenTransformer.TokenTransformerClient(host.Channel).Decode(cancellationToken: ct);
        await call.RequestStream.WriteAsync(Requests.Open(Requests.Conditioning(model, decode.Seeds, decode.TextSeed)), ct);
        await start;
        var sampler = new StreamSampler(call, model);

        await ParallelDecoder.DecodeAsync(sampler, states, options, stage, decode.Seeds, startStep: 0, onStep: null, ct);
        await call.RequestStream.CompleteAsync();

        Assert.False(await call.ResponseStream.MoveNext(CancellationToken.None));
        return sampler.Replies;
    }

    private sealed record DecodeCase(
        string Model,
        ulong[] Seeds,
        int Steps,
        float GuidanceScale,
        float SamplingTemperature,
        ulong TextSeed = 11,
        GuidanceSchedule Schedule = GuidanceSchedule.Constant);
}
