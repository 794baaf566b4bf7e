using System.CommandLine;
using Microsoft.Extensions.Logging;
using Muse.Client;
using Muse.Cluster;
using Spectre.Console;

namespace Muse.Cli;

/// <summary>
/// <c>muse up</c>: a local cluster (every stage a separate process) that runs until Ctrl-C. A child that dies is
/// restarted on its own address (see <see cref="RestartPolicy"/>) while the rest keep serving; the command fails only
/// once the cluster cannot serve any more (<see cref="LocalCluster.WaitForFailureAsync"/>). Stages always require a
/// random per-run cluster credential; the orchestrator optionally serves TLS and enforces API keys.
/// </summary>
internal static class UpCommand
{
    public static Command Create()
    {
        var port = new Option<int>("--port") { Description = "Port of the orchestrator; 0 = any free port", DefaultValueFactory = _ => 0 };
        var host = new Option<string>("--host")
        {
            Description = "Address the orchestrator listens on (stages stay on loopback); other than loopback needs --api-keys or --allow-anonymous",
            DefaultValueFactory = _ => "127.0.0.1",
        };
        var tlsCert = new Option<FileInfo?>("--tls-cert") { Description = "PEM certificate: the orchestrator serves TLS only (with --tls-key)" };
        var tlsKey = new Option<FileInfo?>("--tls-key") { Description = "PEM private key of --tls-cert" };
        var apiKeys = new Option<FileInfo?>("--api-keys") { Description = "API key file (muse keys create) the orchestrator enforces; reloaded when it changes" };
        var allowAnonymous = new Option<bool>("--allow-anonymous") { Description = "Serve callers without a key on a non-loopback --host" };
        var replicas = new Option<int>("--replicas") { Description = "Replicas of each transformer stage (base, sr)", DefaultValueFactory = _ => 1 };
        var pipelines = new Option<FileInfo?>("--pipelines") { Description = "pipelines.json to serve; reloaded when it changes (default: beside the repository)" };
        var webPort = new Option<int>("--web-port") { Description = "Loopback port of the web page and HTTP/JSON API (HTTP/1.1); 0 = any free port", DefaultValueFactory = _ => 0 };
        var command = new Command("up", "Start every stage and the orchestrator on this machine until Ctrl-C; restart any that dies")
        {
            port, host, webPort, replicas, pipelines, tlsCert, tlsKey, apiKeys, allowAnonymous,
        };
        command.SetAction((parseResult, cancellationToken) => CommandRunner.RunAsync(
            ct => RunAsync(new LocalClusterOptions
            {
                OrchestratorPort = parseResult.GetValue(port),
                TransformerReplicas = parseResult.GetValue(replicas),
                Pipelines = parseResult.GetValue(pipelines)?.FullName,
                WebPort = parseResult.GetValue(webPort),
                OrchestratorHost = parseResult.GetValue(host) ?? "127.0.0.1",
                TlsCertificateFile = parseResult.GetValue(tlsCert)?.FullName,
                TlsKeyFile = parseResult.GetValue(tlsKey)?.FullName,
                ApiKeysFile = parseResult.GetValue(apiKeys)?.FullName,
                AllowAnonymous = parseResult.GetValue(allowAnonymous),
            }, ct),
            cancellationToken));
        return command;
    }

    private static async Task<int> RunAsync(LocalClusterOptions options, CancellationToken cancellationToken)
    {
        var log = new LifecycleLog();
        var cluster = await AnsiConsole.Status().StartAsync(
            "Starting a local cluster…",
            _ => LocalCluster.StartAsync(options, log, cancellationToken));
        await using (cluster)
        {
            AnsiConsole.Write(Render(cluster));
            // Scripts wait for this line, the same one every Muse process prints once it listens.
            Console.WriteLine($"{ListeningLine.Marker} {ListeningLine.Format(cluster.OrchestratorUrl)}");
            if (cluster.WebUrl is { } web)
            {
                // The web page and the HTTP/JSON API (curl), announced the same way.
                Console.WriteLine($"{ListeningLine.WebMarker} {ListeningLine.Format(web)}");
            }

            AnsiConsole.MarkupLine("[grey]Press Ctrl-C to stop.[/]");
            // Only now: during start-up the status spinner owns the terminal, and a failed start is an exception anyway.
            log.Enabled = true;

            string? failure = null;
            try
            {
                failure = await cluster.WaitForFailureAsync(cancellationToken);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                // Ctrl-C: stop in order below.
            }

            AnsiConsole.MarkupLine("[grey]Stopping…[/]");
            if (failure is not null)
            {
                await Console.Error.WriteLineAsync($"error: the cluster cannot serve any more: {failure}.");
                return CommandRunner.Failed;
            }
        }

        AnsiConsole.MarkupLine("Stopped.");
        return 0;
    }

    private static Table Render(LocalCluster cluster)
    {
        var table = new Table().Border(TableBorder.Rounded).AddColumns("process", "pid", "address", "models");
        foreach (var process in cluster.Stages.Append(cluster.Orchestrator))
        {
            table.AddRow(
                Markup.Escape(process.Name),
                process.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture),
                Markup.Escape(process.Stage == "orchestrator" && cluster.WebUrl is { } web
                    ? $"{ListeningLine.Format(process.Url)} (web {ListeningLine.Format(web)})"
                    : ListeningLine.Format(process.Url)),
                Markup.Escape(string.Join(", ", process.Models)));
        }

        return table;
    }

    /// <summary>
    /// The cluster's lifecycle events (exits, restarts with their backoff, give-ups) on stderr, one line each; child
    /// output and per-process start details (Trace, Debug) stay out of the terminal.
    /// </summary>
    private sealed class LifecycleLog : ILogger
    {
        public volatile bool Enabled;

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => Enabled && logLevel >= LogLevel.Information;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel))
            {
                return;
            }

            var time = TimeProvider.System.GetLocalNow().ToString("HH:mm:ss", System.Globalization.CultureInfo.InvariantCulture);
            var level = logLevel switch
            {
                LogLevel.Information => "info",
                LogLevel.Warning => "warn",
                _ => "error",
            };
            var line = exception is null ? formatter(state, exception) : $"{formatter(state, exception)} {exception}";
            // One write per line: restarts of different children are logged from different threads.
            Console.Error.Write($"{time} {level}: {line}{Environment.NewLine}");
        }
    }
}
