using Grpc.Core;
using Microsoft.Extensions.Options;
using Muse.Hosting;
using Muse.Hosting.Security;
using Muse.Orchestrator.Generation;
using Muse.Orchestrator.Pipelines;
using Muse.Protos.V1;

namespace Muse.Orchestrator;

/// <summary>
/// The public <c>muse.v1.Muse</c> service. Each request reads the pipeline catalog once, when it is validated, and
/// keeps the versions chosen then, however the catalog is reloaded meanwhile. Each event must be taken by the client
/// within <see cref="QueueOptions.ClientReadTimeout"/>, or the request is cancelled.
/// </summary>
public sealed class MuseService(
    PipelineCatalogSource catalogs,
    Generator generator,
    Editor editor,
    AdmissionController admission,
    ModelMetrics metrics,
    TimeProvider time,
    IOptions<QueueOptions> queue,
    ILogger<MuseService> logger,
    IOptions<MuseSecurityOptions>? security = null)
    : Protos.V1.Muse.MuseBase
{
    public override Task Generate(GenerateRequest request, IServerStreamWriter<GenerateEvent> responseStream, ServerCallContext context)
    {
        var settings = GenerateSettings.FromRequest(request, catalogs.Current);
        return RunAsync(settings, (emit, deadline, ct) => generator.GenerateAsync(settings, emit, deadline, ct), responseStream, context);
    }

    public override Task Edit(EditRequest request, IServerStreamWriter<GenerateEvent> responseStream, ServerCallContext context)
    {
        var settings = EditSettings.FromRequest(request, catalogs.Current);
        return RunAsync(settings.Common, (emit, deadline, ct) => editor.EditAsync(settings, emit, deadline, ct), responseStream, context);
    }

    // The life cycle of every image request: (validated by the caller) admit, accept, wait for a slot, run, result.
    private async Task RunAsync(
        GenerateSettings settings,
        Func<Func<GenerateEvent, Task>, DateTime?, CancellationToken, Task<Result>> run,
        IServerStreamWriter<GenerateEvent> responseStream,
        ServerCallContext context)
    {
        var deadline = context.Deadline == DateTime.MaxValue ? (DateTime?)null : context.Deadline;
        // A full queue refuses the request before it is accepted; otherwise it holds a slot or a place in line.
        AdmissionController.Ticket ticket;
        try
        {
            ticket = admission.Enter();
        }
        catch (ResourceExhaustedException)
        {
            context.ResponseTrailers.Add(Security.ApiKeyRateLimitPolicy.RetryAfter, "1");
            throw;
        }

        using var _ = ticket;
        // Cancelled when the client goes away, or when it stops taking events (see EventWriter).
        using var request = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken);
        var ct = request.Token;
        var events = new EventWriter(responseStream, queue.Value.ClientReadTimeout, time, request, context, settings.RequestId, logger);
        OrchestratorLog.RequestAccepted(logger, settings.RequestId, settings.Models.Pipeline, settings.Seed);
        if (security?.Value.LogPrompts == true)
        {
            // Debug switch only: prompts are the users' data and stay out of logs by default.
            OrchestratorLog.RequestPrompt(logger, settings.RequestId, BoundedText.Quote(settings.Prompt));
        }

        var accepted = new Accepted { RequestId = settings.RequestId, Pipeline = settings.Models.Pipeline, Seed = settings.Seed };
        accepted.Models.AddRange(StageRunner.Reported(settings.Models));
        await events.WriteAsync(new GenerateEvent { Accepted = accepted });
        var queued = time.GetTimestamp();
        await ticket.WaitAsync(
            position => events.WriteAsync(new GenerateEvent { Queued = new Queued { Position = position, Capacity = admission.Capacity } }),
            ct);
        var waited = time.GetElapsedTime(queued);

        metrics.Started(settings.Models);
        Result result;
        try
        {
            result = await run(events.WriteAsync, deadline, ct);
        }
        catch (Exception) when (!IsClientCancellation(deadline, ct))
        {
            metrics.Failed(settings.Models);
            throw;
        }

        result.Timings.Insert(0, new StageTiming { Stage = "queue", Milliseconds = waited.TotalMilliseconds });
        metrics.Completed(settings.Models, result.Timings);
        await events.WriteAsync(new GenerateEvent { Result = result });
        OrchestratorLog.RequestFinished(logger, settings.RequestId, result.Timings.Last().Milliseconds);
    }

    // Resets the HTTP/2 stream, so Kestrel drops the write it holds; only a real server call has a connection.
    private static void TryAbort(ServerCallContext context)
    {
        try
        {
            context.GetHttpContext().Abort();
        }
        catch (InvalidOperationException)
        {
            // Not served by ASP.NET Core (an in-process call): nothing to reset.
        }
    }

    /// <summary>
    /// Writes events with a bound on each write: HTTP/2 flow control holds a write for as long as the client reads
    /// nothing, and a request must not keep its slot and its replicas' work that way. A write not taken within the
    /// timeout cancels the request and resets the stream (the client is not reading a status either).
    /// </summary>
    private sealed class EventWriter(
        IServerStreamWriter<GenerateEvent> stream,
        TimeSpan timeout,
        TimeProvider time,
        CancellationTokenSource request,
        ServerCallContext context,
        string requestId,
        ILogger logger)
    {
        public async Task WriteAsync(GenerateEvent e)
        {
            using var stalled = new CancellationTokenSource(timeout, time);
            using var write = CancellationTokenSource.CreateLinkedTokenSource(request.Token, stalled.Token);
            try
            {
                await stream.WriteAsync(e, write.Token);
            }
            // grpc-dotnet aborts the request when a write's token fires, so the call's own token is cancelled too by
            // then, and the write may fail as cancelled or as an aborted connection.
            catch (Exception ex) when (stalled.IsCancellationRequested && ex is OperationCanceledException or IOException or InvalidOperationException)
            {
                OrchestratorLog.ClientNotReading(logger, requestId, timeout.TotalSeconds);
                await request.CancelAsync();
                TryAbort(context);
                throw new RpcException(new Status(StatusCode.Cancelled,
                    $"The client took no event for {timeout.TotalSeconds:0.###} s (Muse:Queue:ClientReadTimeout); the request was cancelled."));
            }
        }
    }

    // The client cancelled or went away (whatever the exception that caused): not the version's fault. A passed
    // deadline is counted (the request was too slow).
    private bool IsClientCancellation(DateTime? deadline, CancellationToken ct) =>
        ct.IsCancellationRequested && !(deadline is { } d && time.GetUtcNow().UtcDateTime >= d);

    public override Task<ListModelsReply> ListModels(ListModelsRequest request, ServerCallContext context)
    {
        var catalog = catalogs.Current;
        var reply = new ListModelsReply { DefaultPipeline = catalog.DefaultPipeline };
        var names = catalog.File.Pipelines.Keys.OrderBy(n => n != catalog.DefaultPipeline).ThenBy(n => n, StringComparer.Ordinal);
        reply.Pipelines.AddRange(names.Select(name => MapPipeline(catalog, name)));
        return Task.FromResult(reply);
    }

    private PipelineInfo MapPipeline(PipelineCatalog catalog, string name)
    {
        var definition = catalog.File.Pipelines[name];
        var info = new PipelineInfo { Name = name, Description = definition.Description };
        foreach (var (stage, candidates) in definition.Stages)
        {
            info.Models.AddRange(candidates.Select(c => new WeightedModel
            {
                Model = new StageModel { Stage = stage, Name = c.Model, Version = c.Version },
                Weight = c.Weight,
                Stats = MapStats(metrics.Stats(stage, c.Id)),
            }));
        }

        // The image is the last transformer's grid: SR's, or the base model's in a pipeline without SR.
        var last = definition.Stages.GetValueOrDefault(Repository.Stages.SuperResolution) ?? definition.Stages[Repository.Stages.Base];
        var final = catalog.Manifest(last[0].Id);
        var vqgan = catalog.Manifest(definition.Stages[Repository.Stages.ImageTokenizer][0].Id);
        info.Width = final.GridWidth * vqgan.DownsampleFactor;
        info.Height = final.GridHeight * vqgan.DownsampleFactor;
        info.Trained = definition.Stages.Values.SelectMany(c => c).All(c => catalog.Manifest(c.Id).Trained);
        return info;
    }

    private static ModelStats MapStats(ModelVersionStats stats) => new()
    {
        Requests = (ulong)stats.Requests,
        Failures = (ulong)stats.Failures,
        Completed = (ulong)stats.Completed,
        LatencyP50Ms = stats.P50Milliseconds,
        LatencyP95Ms = stats.P95Milliseconds,
    };
}
