using System.CommandLine;
using System.Globalization;
using Muse.Client;
using Muse.Orchestrator.Security;
using Spectre.Console;

namespace Muse.Cli;

/// <summary>
/// <c>muse keys create|list|revoke</c>: the API key file an orchestrator enforces (<c>muse up --api-keys FILE</c>,
/// <c>Muse:Security:ApiKeysFile</c>). A new key is printed once, as the last line of stdout; the file keeps only a
/// salted hash of it. A running orchestrator picks up every change (a revoked key is refused from the next call on).
/// </summary>
internal static class KeysCommand
{
    public static Command Create()
    {
        var command = new Command("keys", "Create, list and revoke API keys in a key file");
        command.Subcommands.Add(CreateKey());
        command.Subcommands.Add(List());
        command.Subcommands.Add(Revoke());
        return command;
    }

    private static Option<FileInfo> FileOption() => new("--file") { Description = "The API key file (JSON; created if missing)", Required = true };

    private static Command CreateKey()
    {
        var name = new Argument<string>("name") { Description = "Who the key is for; logs and limits use this name" };
        var file = FileOption();
        var perMinute = new Option<int?>("--requests-per-minute") { Description = "Requests allowed per minute (default: no limit)" };
        var concurrent = new Option<int?>("--max-concurrent") { Description = "Requests in flight at once (default: no limit)" };
        var command = new Command("create", "Create a key; it is printed once, as the last line of stdout") { name, file, perMinute, concurrent };
        command.SetAction((parseResult, cancellationToken) => CommandRunner.RunAsync(ct =>
        {
            var path = parseResult.GetRequiredValue(file).FullName;
            var keys = ApiKeyFile.Load(path);
            var key = keys.Create(parseResult.GetRequiredValue(name), parseResult.GetValue(perMinute), parseResult.GetValue(concurrent), TimeProvider.System.GetUtcNow());
            keys.Save(path);
            Console.Error.WriteLine($"Key '{parseResult.GetRequiredValue(name)}' added to {path}. It is shown only now; the file keeps a salted hash:");
            Console.Out.WriteLine(key);
            return Task.FromResult(0);
        }, cancellationToken));
        return command;
    }

    private static Command List()
    {
        var file = FileOption();
        var command = new Command("list", "List the keys of a file: names, limits, state (never the keys)") { file };
        command.SetAction((parseResult, cancellationToken) => CommandRunner.RunAsync(ct =>
        {
            var keys = ApiKeyFile.Load(parseResult.GetRequiredValue(file).FullName);
            var table = new Table().Border(TableBorder.Rounded).AddColumns("name", "id", "requests/min", "concurrent", "created", "state");
            foreach (var key in keys.Keys)
            {
                table.AddRow(
                    Markup.Escape(key.Name),
                    key.Id,
                    key.RequestsPerMinute?.ToString(CultureInfo.InvariantCulture) ?? "-",
                    key.MaxConcurrent?.ToString(CultureInfo.InvariantCulture) ?? "-",
                    key.Created.ToString("u", CultureInfo.InvariantCulture),
                    key.Revoked is { } revoked ? $"revoked {revoked.ToString("u", CultureInfo.InvariantCulture)}" : "live");
            }

            AnsiConsole.Write(table);
            return Task.FromResult(0);
        }, cancellationToken));
        return command;
    }

    private static Command Revoke()
    {
        var name = new Argument<string>("name") { Description = "The key to revoke" };
        var file = FileOption();
        var command = new Command("revoke", "Revoke a key; a running orchestrator refuses it from its next call on") { name, file };
        command.SetAction((parseResult, cancellationToken) => CommandRunner.RunAsync(ct =>
        {
            var path = parseResult.GetRequiredValue(file).FullName;
            var keys = ApiKeyFile.Load(path);
            if (!keys.Revoke(parseResult.GetRequiredValue(name), TimeProvider.System.GetUtcNow()))
            {
                throw new ArgumentException($"{path} has no live key named '{parseResult.GetRequiredValue(name)}'.");
            }

            keys.Save(path);
            Console.Error.WriteLine($"Key '{parseResult.GetRequiredValue(name)}' revoked.");
            return Task.FromResult(0);
        }, cancellationToken));
        return command;
    }
}
