using System.CommandLine;
using Muse.Client;
using Muse.Cluster;
using Spectre.Console;

namespace Muse.Cli;

/// <summary><c>muse up</c>: a local cluster (every stage a separate process) that runs until Ctrl-C.</summary>
internal static class UpCommand
{
    public static Command Create()
    {
        var port = new Option<int>("--port") { Description = "Loopback port of the orchestrator; 0 = any free port", DefaultValueFactory = _ => 0 };
        var replicas = new Option<int>("--replicas") { Description = "Replicas of each transformer stage (base, sr)", DefaultValueFactory = _ => 1 };
        var pipelines = new Option<FileInfo?>("--pipelines") { Description = "pipelines.json to serve; reloaded when it changes (default: beside the repository)" };
        var command = new Command("up", "Start every stage and the orchestrator on this machine until Ctrl-C") { port, replicas, pipelines };
        command.SetAction((parseResult, cancellationToken) => CommandRunner.RunAsync(
            ct => RunAsync(new LocalClusterOptions
            {
                OrchestratorPort = parseResult.GetValue(port),
                TransformerReplicas = parseResult.GetValue(replicas),
                Pipelines = parseResult.GetValue(pipelines)?.FullName,
            }, ct),
            cancellationToken));
        return command;
    }

    private static async Task<int> RunAsync(LocalClusterOptions options, CancellationToken cancellationToken)
    {
        var cluster = await AnsiConsole.Status().StartAsync(
            "Starting a local cluster…",
            _ => LocalCluster.StartAsync(options, cancellationToken: cancellationToken));
        await using (cluster)
        {
            AnsiConsole.Write(Render(cluster));
            // Scripts wait for this line, the same one every Muse process prints once it listens.
            Console.WriteLine($"{ListeningLine.Marker} {ListeningLine.Format(cluster.OrchestratorUrl)}");
            AnsiConsole.MarkupLine("[grey]Press Ctrl-C to stop.[/]");

            var processes = cluster.Stages.Append(cluster.Orchestrator).ToList();
            var anyExit = Task.WhenAny(processes.Select(p => p.WaitForExitAsync(CancellationToken.None)));
            await Task.WhenAny(anyExit, Task.Delay(Timeout.Infinite, cancellationToken));
            var died = processes.FirstOrDefault(p => p.HasExited);
            AnsiConsole.MarkupLine("[grey]Stopping…[/]");
            if (died is not null && !cancellationToken.IsCancellationRequested)
            {
                await Console.Error.WriteLineAsync(
                    $"error: {died.Name} (pid {died.ProcessId}) exited unexpectedly. Its last output:{Environment.NewLine}  "
                    + string.Join(Environment.NewLine + "  ", died.RecentOutput));
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
                Markup.Escape(ListeningLine.Format(process.Url)),
                Markup.Escape(string.Join(", ", process.Models)));
        }

        return table;
    }
}
