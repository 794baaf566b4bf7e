using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Spectre.Console;

namespace Muse.Client;

/// <summary>
/// <c>muse load</c>: a bounded load run against a Muse service (<see cref="LoadRun"/>): <c>--clients N</c> concurrent
/// clients share <c>--requests M</c> Generate calls with distinct seeds; prints images/s, latency quantiles and
/// failures by status, one row per client count (<c>--clients 1,2,4,8</c> sweeps them in turn, the concurrency
/// table). Exits non-zero when a request was lost (failed after its retries).
/// </summary>
public static class LoadCommand
{
    // Held-out-style scene prompts of the shipped tiny models; any text works for other pipelines.
    private static readonly string[] DefaultPrompts =
    [
        "a big red circle on the left",
        "a small blue square at the top against a white background",
        "a green triangle to the right of a yellow circle",
        "a large orange square in the middle against a gray background",
    ];

    public static Command Create()
    {
        var connection = new ConnectionOptions();
        var clients = new Option<int[]>("--clients")
        {
            Description = "Concurrent clients; a comma-separated list runs each count in turn (e.g. 1,2,4,8,16)",
            DefaultValueFactory = _ => [8],
            CustomParser = result => [.. result.Tokens.SelectMany(t => t.Value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                .Select(v => int.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : 0)],
        };
        var requests = new Option<int>("--requests") { Description = "Requests per client count, shared by the clients", DefaultValueFactory = _ => 32 };
        var prompts = new Option<string[]>("--prompt") { Description = "Prompt (repeat for several, used in turn; default: four scene prompts)", AllowMultipleArgumentsPerToken = false };
        var attempts = new Option<int>("--attempts") { Description = "Tries per request on a retryable status (UNAVAILABLE, RESOURCE_EXHAUSTED, ABORTED, DEADLINE_EXCEEDED)", DefaultValueFactory = _ => 4 };
        var timeout = new Option<double>("--timeout") { Description = "Deadline of one try, in seconds", DefaultValueFactory = _ => 120 };
        var json = new Option<bool>("--json") { Description = "Print one JSON object instead of the table" };
        var warmup = new Option<int>("--warmup")
        {
            Description = "Unmeasured requests first, at the largest client count (JIT tiers and connections of the service and of this client)",
            DefaultValueFactory = _ => 0,
        };
        var image = new ImageRequestOptions();
        var command = new Command("load", "Load a Muse service with concurrent clients and report images/s, latency and failures")
        {
            clients, requests, prompts, attempts, timeout, json, warmup,
        };
        image.AddTo(command);
        connection.AddTo(command);
        command.SetAction((parseResult, cancellationToken) => CommandRunner.RunAsync(
            async ct =>
            {
                var counts = parseResult.GetValue(clients) ?? [];
                if (counts.Length == 0 || counts.Any(c => c < 1) || parseResult.GetValue(requests) < 1 || parseResult.GetValue(attempts) < 1)
                {
                    throw new ArgumentException("--clients (each count), --requests and --attempts must be at least 1.");
                }

                if (parseResult.GetValue(timeout) <= 0)
                {
                    throw new ArgumentException("--timeout must be positive.");
                }

                if (parseResult.GetValue(warmup) < 0)
                {
                    throw new ArgumentException("--warmup must be 0 or more.");
                }

                var given = parseResult.GetValue(prompts);
                var plan = new LoadPlan(
                    1,
                    parseResult.GetValue(requests),
                    given is { Length: > 0 } ? given : DefaultPrompts,
                    FirstSeed: image.Seed(parseResult) ?? 1000,
                    Decoding: image.Decoding(parseResult),
                    Pipeline: image.Pipeline(parseResult),
                    NegativePrompt: image.NegativePrompt(parseResult),
                    Attempts: parseResult.GetValue(attempts),
                    RequestTimeout: TimeSpan.FromSeconds(parseResult.GetValue(timeout)));
                await using var muse = await MuseConnection.OpenAsync(connection.Read(parseResult), ct);
                if (parseResult.GetValue(warmup) is > 0 and var warmupRequests)
                {
                    // Seeds after the measured ones' range, so warm-up images are not the measured requests' images.
                    await LoadRun.RunAsync(
                        muse.Client,
                        plan with { Clients = counts.Max(), Requests = warmupRequests, FirstSeed = plan.FirstSeed + (ulong)plan.Requests },
                        TimeProvider.System,
                        ct);
                }

                var reports = new List<LoadReport>();
                foreach (var count in counts)
                {
                    reports.Add(await LoadRun.RunAsync(muse.Client, plan with { Clients = count }, TimeProvider.System, ct));
                }

                if (parseResult.GetValue(json))
                {
                    Console.WriteLine(reports.Count == 1
                        ? JsonSerializer.Serialize(reports[0].Summary())
                        : JsonSerializer.Serialize(reports.Select(r => r.Summary())));
                }
                else
                {
                    AnsiConsole.Write(Render(reports));
                }

                return reports.All(r => r.Failed == 0) ? 0 : CommandRunner.Failed;
            },
            cancellationToken));
        return command;
    }

    internal static Table Render(IEnumerable<LoadReport> reports)
    {
        string F(double value, string format) => value.ToString(format, CultureInfo.InvariantCulture);
        var table = new Table().Border(TableBorder.Rounded)
            .AddColumns("clients", "requests", "ok", "lost", "retried", "images/s", "p50 ms", "p95 ms", "p99 ms", "failures");
        foreach (var report in reports)
        {
            table.AddRow(
                report.Plan.Clients.ToString(CultureInfo.InvariantCulture),
                report.Outcomes.Count.ToString(CultureInfo.InvariantCulture),
                report.Succeeded.ToString(CultureInfo.InvariantCulture),
                report.Failed.ToString(CultureInfo.InvariantCulture),
                report.Retried.ToString(CultureInfo.InvariantCulture),
                F(report.ImagesPerSecond, "0.00"),
                F(report.LatencyQuantile(0.50), "0"),
                F(report.LatencyQuantile(0.95), "0"),
                F(report.LatencyQuantile(0.99), "0"),
                Markup.Escape(report.FailuresByStatus.Count == 0 ? "none" : string.Join(", ", report.FailuresByStatus.Select(f => $"{f.Key} {f.Value}"))));
        }

        return table;
    }
}
