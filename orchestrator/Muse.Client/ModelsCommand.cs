using System.CommandLine;
using System.Globalization;
using Muse.Protos.V1;
using Spectre.Console;

namespace Muse.Client;

/// <summary><c>muse models</c>: the pipelines a Muse service can run and the model versions behind them.</summary>
public static class ModelsCommand
{
    public static Command Create()
    {
        var endpoint = CommonOptions.Endpoint();
        var command = new Command("models", "List pipelines and their model versions") { endpoint };
        command.SetAction((parseResult, cancellationToken) => CommandRunner.RunAsync(
            ct => RunAsync(parseResult.GetValue(endpoint), ct),
            cancellationToken));
        return command;
    }

    private static async Task<int> RunAsync(string? endpoint, CancellationToken cancellationToken)
    {
        await using var connection = await MuseConnection.OpenAsync(endpoint, cancellationToken);
        var reply = await connection.Client.ListModelsAsync(new ListModelsRequest(), cancellationToken: cancellationToken);
        AnsiConsole.Write(Render(reply));
        return 0;
    }

    internal static Table Render(ListModelsReply reply)
    {
        var table = new Table()
            .Border(TableBorder.Rounded)
            .AddColumns("pipeline", "stage", "model", "version", "weight", "trained", "size");
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
                        first ? (pipeline.Trained ? "yes" : "no") : "",
                        first ? $"{pipeline.Width}×{pipeline.Height}" : "");
                    first = false;
                }
            }

            if (first)
            {
                table.AddRow(Markup.Escape(name), "", "", "", "", pipeline.Trained ? "yes" : "no", $"{pipeline.Width}×{pipeline.Height}");
            }
        }

        return table;
    }
}
