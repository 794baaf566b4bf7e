using System.CommandLine;
using System.Globalization;
using Muse.Protos.V1;
using Spectre.Console;

namespace Muse.Client;

/// <summary>
/// <c>muse models</c>: the pipelines a Muse service can run, the model versions behind them, and what each version
/// has done since the service started (requests, failures, p50/p95 of its stage's time), to judge an A/B split.
/// </summary>
public static class ModelsCommand
{
    /// <summary>The command, with <paramref name="subcommands"/> (e.g. <c>import</c>, which needs model code this project has not).</summary>
    public static Command Create(params Command[] subcommands)
    {
        var connection = new ConnectionOptions();
        var command = new Command("models", "List pipelines and their model versions");
        connection.AddTo(command);
        foreach (var subcommand in subcommands)
        {
            command.Subcommands.Add(subcommand);
        }

        command.SetAction((parseResult, cancellationToken) => CommandRunner.RunAsync(
            ct => RunAsync(connection.Read(parseResult), ct),
            cancellationToken));
        return command;
    }

    private static async Task<int> RunAsync(ConnectionTarget target, CancellationToken cancellationToken)
    {
        await using var connection = await MuseConnection.OpenAsync(target, cancellationToken);
        var reply = await connection.Client.ListModelsAsync(new ListModelsRequest(), cancellationToken: cancellationToken);
        AnsiConsole.Write(Render(reply));
        return 0;
    }

    internal static Table Render(ListModelsReply reply)
    {
        var table = new Table()
            .Border(TableBorder.Rounded)
            .AddColumns("pipeline", "stage", "model", "version", "weight", "requests", "failed", "p50 ms", "p95 ms", "trained", "size");
        foreach (var pipeline in reply.Pipelines)
        {
            var name = pipeline.Name == reply.DefaultPipeline ? $"{pipeline.Name} (default)" : pipeline.Name;
            var first = true;
            foreach (var stage in pipeline.Models.GroupBy(m => m.Model.Stage, StringComparer.Ordinal))
            {
                var total = stage.Sum(m => m.Weight);
                foreach (var weighted in stage)
                {
                    // Weights are relative within a stage; the share is what routing actually does.
                    var share = total > 0 ? weighted.Weight / total : 0;
                    table.AddRow(
                        first ? Markup.Escape(name) : "",
                        Markup.Escape(weighted.Model.Stage),
                        Markup.Escape(weighted.Model.Name),
                        Markup.Escape(weighted.Model.Version),
                        string.Create(CultureInfo.InvariantCulture, $"{weighted.Weight:0.###} ({share:0%})"),
                        Count(weighted.Stats?.Requests ?? 0),
                        Failed(weighted.Stats),
                        Milliseconds(weighted.Stats, weighted.Stats?.LatencyP50Ms ?? 0),
                        Milliseconds(weighted.Stats, weighted.Stats?.LatencyP95Ms ?? 0),
                        first ? (pipeline.Trained ? "yes" : "no") : "",
                        first ? $"{pipeline.Width}×{pipeline.Height}" : "");
                    first = false;
                }
            }

            if (first)
            {
                table.AddRow(Markup.Escape(name), "", "", "", "", "", "", "", "", pipeline.Trained ? "yes" : "no", $"{pipeline.Width}×{pipeline.Height}");
            }
        }

        return table;
    }

    private static string Count(ulong count) => count.ToString(CultureInfo.InvariantCulture);

    // Failures with their share of the version's requests, the number an A/B split is judged by.
    private static string Failed(ModelStats? stats) => stats is { Requests: > 0 }
        ? string.Create(CultureInfo.InvariantCulture, $"{stats.Failures} ({(double)stats.Failures / stats.Requests:0.#%})")
        : "0";

    private static string Milliseconds(ModelStats? stats, double milliseconds) =>
        stats is { Completed: > 0 } ? milliseconds.ToString("0", CultureInfo.InvariantCulture) : "–";
}
